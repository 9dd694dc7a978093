"""stemlime segmenters that a musician would choose: uniform, manual, onsets, beats, bars, tf_grid."""

from .segmenters import (
    BarSegmenter,
    BeatSegmenter,
    ManualSegmenter,
    OnsetSegmenter,
    SegmentationWarning,
    UniformSegmenter,
)
from .tfgrid import TimeFrequencyGrid
from .windows import crossfade_windows

__all__ = [
    "BarSegmenter",
    "BeatSegmenter",
    "ManualSegmenter",
    "OnsetSegmenter",
    "SegmentationWarning",
    "TimeFrequencyGrid",
    "UniformSegmenter",
    "crossfade_windows",
]
