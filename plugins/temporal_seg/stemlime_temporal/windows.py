"""Segment windows with raised-cosine cross-fades that sum to exactly one at every sample.

Each cut point gets a "rise": 0 before it, 1 after it, a half cosine across the fade centred
on it. Window i is ``rise[i] - rise[i + 1]`` (with rise 1 everywhere before the first cut and 0
after the last), so the windows telescope to one at every sample, whatever the fade, and are
never negative because later rises are shifted copies of earlier ones.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from stemlime.plugin import Segment


def rise(cut: int, length: int, fade: int) -> np.ndarray:
    """0 before sample ``cut``, 1 from it on, a raised-cosine ramp of ``fade`` samples centred on it.

    The ramp is point-symmetric about the gap between samples ``cut - 1`` and ``cut``, so a
    hard cut (``fade`` 0 or 1) and a soft one put the boundary in the same place. float64.
    """
    n = np.arange(length, dtype=np.float64)
    if fade <= 1:
        return (n >= cut).astype(np.float64)
    position = np.clip((n - cut + fade / 2 + 0.5) / fade, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * position)


def crossfade_windows(cuts: Sequence[int], length: int, fade: int) -> np.ndarray:
    """Windows (len(cuts) + 1, length) float32 for segments split at sample indices ``cuts``.

    ``cuts`` must increase strictly within (0, length); ``fade`` is the cross-fade length in
    samples (0 = hard cuts). The fade is shortened to the shortest segment so that every
    segment reaches full gain somewhere.
    """
    cuts = [int(c) for c in cuts]
    edges = [0, *cuts, length]
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"cut points must increase strictly inside (0, {length}); got {cuts}")
    fade = min(int(fade), min(b - a for a, b in zip(edges, edges[1:])))
    rises = [np.ones(length)] + [rise(c, length, fade) for c in cuts] + [np.zeros(length)]
    return np.stack([a - b for a, b in zip(rises, rises[1:])]).astype(np.float32)


def time_segments(
    cuts: Sequence[int], length: int, sample_rate: int, fade_seconds: float, names: Sequence[str] | None = None
) -> list[Segment]:
    """Segments split at sample indices ``cuts`` (nominal start/end in seconds at the cuts).

    ``names`` default to the time span, ``0.00-0.75s``.
    """
    edges = [0, *[int(c) for c in cuts], length]
    spans = [(a / sample_rate, b / sample_rate) for a, b in zip(edges, edges[1:])]
    windows = crossfade_windows(cuts, length, round(fade_seconds * sample_rate))
    names = list(names) if names is not None else span_names(spans)
    return [Segment(start, end, window, name) for (start, end), window, name in zip(spans, windows, names)]


def span_names(spans: Sequence[tuple[float, float]]) -> list[str]:
    """``0.00-0.75s`` per (start, end) in seconds; more decimals only where two names would collide."""
    for decimals in range(2, 7):
        names = [f"{start:.{decimals}f}-{end:.{decimals}f}s" for start, end in spans]
        if len(set(names)) == len(names):
            return names
    return names
