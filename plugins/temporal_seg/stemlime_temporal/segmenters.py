"""Time segmenters: uniform, manual, onsets, beats and bars.

Each one finds cut points (sample indices of the mix) and hands them to ``time_segments``,
which makes the cross-faded windows. Detection-based segmenters that find nothing to cut at
fall back to one segment, the whole excerpt, and say so with a SegmentationWarning.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import attrs
import numpy as np

from stemlime.plugin import Segment, UsageError, option

from .boundaries import check_boundaries, merge_short, parse_boundaries, to_samples
from .detection import beat_samples, onset_samples
from .windows import time_segments

DEFAULT_FADE = 0.005  # seconds: long enough to hide the click of a cut, short enough to keep attacks in place
DEFAULT_N = 4


class SegmentationWarning(UserWarning):
    """A segmenter could not do what was asked and did something simpler (e.g. one segment)."""


FADE = "cross-fade at each boundary in seconds (0 = hard cuts)"
START_BPM = "tempo the beat tracker starts from, in beats per minute"


def _positive(owner: str, name: str, value: float | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        bound = "0 or more" if allow_zero else "more than 0"
        raise UsageError(f"{owner}: {name}={value:g} must be {bound}")


def _more_than_zero(instance: Any, attribute: Any, value: float | None) -> None:
    _positive(instance.owner, attribute.name, value)


def _zero_or_more(instance: Any, attribute: Any, value: float | None) -> None:
    _positive(instance.owner, attribute.name, value, allow_zero=True)


def fade_option() -> Any:
    return option(DEFAULT_FADE, FADE, validator=_zero_or_more)


def _whole(owner: str, mix: np.ndarray, sample_rate: int, reason: str) -> list[Segment]:
    duration = len(mix) / sample_rate
    warnings.warn(
        f"{owner}: {reason} in the {duration:.2f}-s excerpt; using one segment, the whole excerpt",
        SegmentationWarning,
        stacklevel=3,
    )
    return time_segments([], len(mix), sample_rate, 0.0)


@attrs.define
class UniformSegmenter:
    """``n`` equal segments, or segments of ``seconds`` each (the last one takes the remainder)."""

    owner = "uniform"
    n: int | None = option(None, f"number of equal segments (default {DEFAULT_N} unless seconds is given)", validator=_more_than_zero)
    seconds: float | None = option(None, "segment length in seconds, instead of n", validator=_more_than_zero)
    fade: float = fade_option()

    def __attrs_post_init__(self) -> None:
        if self.n is not None and self.seconds is not None:
            raise UsageError(
                f"uniform: give n (number of segments) or seconds (segment length), not both (n={self.n}, seconds={self.seconds:g})"
            )
        if self.n is None and self.seconds is None:
            self.n = DEFAULT_N

    def cuts(self, length: int, sample_rate: int) -> list[int]:
        duration = length / sample_rate
        if self.n is not None:
            if self.n > length:
                raise UsageError(
                    f"uniform: n={self.n} segments do not fit in the {duration:.3f}-s excerpt ({length} samples at {sample_rate} Hz)"
                )
            # rounded positions: segment lengths differ by at most one sample, nothing is dropped
            return [int(round(i * length / self.n)) for i in range(1, self.n)]
        step = int(round(self.seconds * sample_rate))
        if step < 1:
            raise UsageError(f"uniform: seconds={self.seconds:g} is shorter than one sample at {sample_rate} Hz")
        count = length // step
        if count < 1:
            raise UsageError(f"uniform: seconds={self.seconds:g} is longer than the {duration:.3f}-s excerpt; choose a shorter length or n")
        return [i * step for i in range(1, count)]

    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Segment]:
        return time_segments(self.cuts(len(mix), sample_rate), len(mix), sample_rate, self.fade)


def _boundaries(boundaries: str | Sequence[float] | None) -> list[float]:
    if boundaries is None:
        raise UsageError(
            "manual: give boundaries in seconds from the excerpt start, e.g. manual,boundaries=0.5;1.2 or boundaries=@times.txt"
        )
    return parse_boundaries(boundaries) if isinstance(boundaries, str) else [float(b) for b in boundaries]


@attrs.define
class ManualSegmenter:
    """Boundaries in seconds from the start of the excerpt: ``"0.5;1.2"`` or ``"@FILE"``."""

    owner = "manual"
    boundaries: list[float] = option(
        None, "seconds separated by ';' (e.g. 0.5;1.2), or @FILE with one number per line", type="str", converter=_boundaries
    )
    fade: float = fade_option()

    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Segment]:
        seconds = check_boundaries(self.boundaries, len(mix) / sample_rate)
        return time_segments(to_samples(seconds, sample_rate, len(mix)), len(mix), sample_rate, self.fade)


@attrs.define
class OnsetSegmenter:
    """Cuts just before detected note onsets, at least ``min_length`` seconds apart."""

    owner = "onsets"
    min_length: float = option(0.5, "shortest segment in seconds; closer onsets are merged", validator=_zero_or_more)
    fade: float = fade_option()

    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Segment]:
        onsets = onset_samples(mix, sample_rate)
        if len(onsets) == 0:
            return _whole("onsets", mix, sample_rate, "no note onsets were detected")
        cuts = merge_short(onsets, len(mix), int(round(self.min_length * sample_rate)))
        if not cuts:
            return _whole("onsets", mix, sample_rate, f"no onset lies at least min_length={self.min_length:g} s from the ends")
        return time_segments(cuts, len(mix), sample_rate, self.fade)


def _grid_segments(
    owner: str, unit: str, grid: np.ndarray, beat_period: float | None, mix: np.ndarray, sample_rate: int, fade: float
) -> list[Segment]:
    """Segments from grid lines (beats or bar lines): ``unit1`` starts at the first line.

    Audio before the first line (a pickup) is its own segment ``unit0`` when it lasts at least
    half a beat, else it joins ``unit1``: a cut a few milliseconds into the excerpt would only
    make a click-sized component.
    """
    grid = [int(g) for g in grid if 0 <= g < len(mix)]
    if not grid:
        return _whole(owner, mix, sample_rate, f"no {unit}s were found")
    pickup_needed = 0.5 * (beat_period if beat_period else 0.5) * sample_rate
    names = [f"{unit}{i}" for i in range(1, len(grid) + 1)]
    if grid[0] >= max(pickup_needed, 1):
        names = [f"{unit}0"] + names
        cuts = grid
    else:
        cuts = grid[1:]
    if not cuts:
        return _whole(owner, mix, sample_rate, f"only one {unit} was found")
    return time_segments(cuts, len(mix), sample_rate, fade, names)


def _beat_period(beats: np.ndarray, sample_rate: int) -> float | None:
    return float(np.median(np.diff(beats))) / sample_rate if len(beats) > 1 else None


@attrs.define
class BeatSegmenter:
    """One segment per beat of librosa's beat tracker: ``beat1``, ``beat2``, ... (``beat0`` = pickup)."""

    owner = "beats"
    start_bpm: float = option(120.0, START_BPM, validator=_more_than_zero)
    fade: float = fade_option()

    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Segment]:
        beats = beat_samples(mix, sample_rate, self.start_bpm)
        if len(beats) == 0:
            return _whole("beats", mix, sample_rate, "no beats were detected")
        return _grid_segments("beats", "beat", beats, _beat_period(beats, sample_rate), mix, sample_rate, self.fade)


@attrs.define
class BarSegmenter:
    """One segment per bar of ``beats_per_bar`` tracked beats: ``bar1``, ``bar2``, ... (``bar0`` = pickup).

    librosa finds beats, not downbeats: bar 1 starts at tracked beat ``downbeat`` (1 = the first
    beat found in the excerpt).
    """

    owner = "bars"
    beats_per_bar: int = option(4, "beats in one bar", validator=_more_than_zero)
    downbeat: int = option(1, "which tracked beat starts bar 1 (1 = the first one found)", validator=_more_than_zero)
    start_bpm: float = option(120.0, START_BPM, validator=_more_than_zero)
    fade: float = fade_option()

    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Segment]:
        beats = beat_samples(mix, sample_rate, self.start_bpm)
        if len(beats) == 0:
            return _whole("bars", mix, sample_rate, "no beats were detected")
        if len(beats) < self.downbeat:
            return _whole("bars", mix, sample_rate, f"only {len(beats)} beat(s), fewer than downbeat={self.downbeat}, were detected")
        bar_lines = beats[self.downbeat - 1 :: self.beats_per_bar]
        return _grid_segments("bars", "bar", bar_lines, _beat_period(beats, sample_rate), mix, sample_rate, self.fade)
