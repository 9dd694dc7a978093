"""Registers the temporal segmenters (and SoundLIME's time-frequency grid) with stemlime."""

from __future__ import annotations

from stemlime.plugin import Factory, hookimpl, options_of

from .segmenters import BarSegmenter, BeatSegmenter, ManualSegmenter, OnsetSegmenter, UniformSegmenter
from .tfgrid import TimeFrequencyGrid


def _factory(name: str, description: str, cls: type) -> Factory:
    return Factory(name=name, description=description, build=lambda variant, **options: cls(**options), options=options_of(cls))


@hookimpl
def stemlime_segmenters(register):
    register(_factory("uniform", "Equal time segments: n of them, or seconds each (the last takes the remainder).", UniformSegmenter))
    register(_factory("manual", "Time segments between boundaries you give, in seconds from the excerpt start.", ManualSegmenter))
    register(_factory("onsets", "Time segments that start just before detected note onsets (librosa).", OnsetSegmenter))
    register(_factory("beats", "One segment per tracked beat (librosa): beat1, beat2, ... (beat0 = pickup).", BeatSegmenter))
    register(_factory("bars", "One segment per bar of tracked beats (librosa): bar1, bar2, ... (bar0 = pickup).", BarSegmenter))
    register(
        _factory(
            "tf_grid", "SoundLIME's time-frequency grid: n_time x n_freq STFT blocks, back to audio by inverse STFT.", TimeFrequencyGrid
        )
    )
