"""Boundaries in seconds: reading them (``0.5;1.2`` or ``@file``), checking them against an
excerpt, turning them into sample indices, and merging them to a minimum segment length."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from stemlime.plugin import UsageError

_SEPARATORS = re.compile(r"[;,\s\[\]]+")  # brackets too: a TOML list arrives as the text "[0.5, 1.2]"


def parse_boundaries(text: str) -> list[float]:
    """Seconds from ``"0.5;1.2"`` (also ``,``, spaces, or a TOML list) or ``"@FILE"``.

    The file holds numbers separated by newlines, commas, semicolons or whitespace (a text or
    one-column CSV file); ``#`` starts a comment and a first line without numbers is a header.
    """
    text = str(text).strip()
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        from stemlime.plugin import file_problem

        problem = file_problem(path, "boundaries file")
        if problem:
            raise UsageError(f"manual: {problem} (boundaries=@FILE reads seconds from FILE)")
        lines = [line.split("#", 1)[0] for line in path.read_text().splitlines()]
        where = f"in {path}"
    else:
        lines = [text]
        where = f"in boundaries={text!r}"
    seconds: list[float] = []
    for number, line in enumerate(lines, 1):
        fields = [f for f in _SEPARATORS.split(line.strip()) if f]
        values = [_number(f) for f in fields]
        if number == 1 and fields and all(v is None for v in values) and len(lines) > 1:
            continue  # a CSV header such as "time"
        for field, value in zip(fields, values):
            if value is None:
                raise UsageError(f"manual: {field!r} {where} (line {number}) is not a number of seconds")
            seconds.append(value)
    if not seconds:
        raise UsageError(f"manual: no boundaries {where}; give seconds from the excerpt start, e.g. boundaries=0.5;1.2")
    return seconds


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def check_boundaries(seconds: Sequence[float], duration: float) -> list[float]:
    """The interior boundaries, refusing unsorted ones and ones outside ``[0, duration]``.

    0 and ``duration`` themselves are allowed (and dropped): they are the excerpt's own ends.
    """
    for earlier, later in zip(seconds, seconds[1:]):
        if later <= earlier:
            raise UsageError(
                f"manual: boundaries must increase, but {later:g} s comes after {earlier:g} s "
                f"(boundaries: {';'.join(f'{s:g}' for s in seconds)})"
            )
    outside = [s for s in seconds if s < 0 or s > duration]
    if outside:
        raise UsageError(
            f"manual: boundary {outside[0]:g} s is outside the {duration:.3f}-s excerpt; boundaries are seconds "
            f"from the start of the excerpt (not of the file), between 0 and {duration:.3f}"
        )
    return [s for s in seconds if 0 < s < duration]


def to_samples(seconds: Sequence[float], sample_rate: int, length: int) -> list[int]:
    """Sample indices of boundaries in seconds; two boundaries on one sample are refused."""
    cuts = [int(round(s * sample_rate)) for s in seconds]
    for (a, sa), (b, sb) in zip(zip(cuts, seconds), zip(cuts[1:], seconds[1:])):
        if b <= a:
            raise UsageError(f"manual: boundaries {sa:g} s and {sb:g} s fall on the same sample at {sample_rate} Hz")
    for cut, second in zip(cuts, seconds):
        if cut <= 0 or cut >= length:
            raise UsageError(f"manual: boundary {second:g} s falls on the first or last sample of the excerpt; leave it out")
    return cuts


def merge_short(cuts: Sequence[int], length: int, min_samples: int) -> list[int]:
    """Drop cut points closer than ``min_samples`` to the previous kept one or to either end.

    Greedy from the start: the earliest of close cuts wins, which keeps a cut at the first
    note of a cluster of onsets (e.g. a flam or a strummed chord).
    """
    kept: list[int] = []
    previous = 0
    for cut in sorted(set(int(c) for c in cuts)):
        if cut - previous >= max(min_samples, 1) and length - cut >= max(min_samples, 1):
            kept.append(cut)
            previous = cut
    return kept
