"""The song scan (audioLIME's Section 5): tag a whole song, explain its best snippets for a label.

    scan = pipeline.scan("song.wav", label="jazz", snippets=3)
    scan.verdict()              # 'piano explains jazz in 3 of 3 snippets'
    scan.save("scan-out/")      # scan.json, taggram.png, index.html, snippets/<rank>-<start>s/

The song's taggram (``Pipeline.taggram``) picks the snippets: :func:`best_snippets`, a pure
function of the taggram, the label and N, which anyone choosing snippets calls (the dataset
runner's ``--snippets best:N`` too). Each snippet is explained with ``Pipeline.explain``; the
song is separated once and every snippet cuts its stems from that (:mod:`stemlime.stemcache`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .errors import UsageError
from .explanation import Explanation, _json_safe
from .output import ResultFolder, safe_name
from .wording import plural

TAGGRAM_THRESHOLD = 0.3  # the taggram picture shows tags with any frame above this (as audioLIME's notebook did)
TAGGRAM_DPI = 150  # sharp on a page as wide as a laptop's


@attrs.frozen
class SnippetWindow:
    """One chosen snippet: taggram ``frame``, ``start``/``end`` in seconds into the song, and the
    label's taggram value (``probability``) at that frame."""

    frame: int
    start: float
    end: float
    probability: float


def check_snippets(n: object) -> int:
    """A number of snippets: a whole number of at least 1."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UsageError(f"snippets must be a whole number of at least 1, got {n!r}")
    return int(n)


SNIPPET_CHOICE = "best"  # --snippets best:N; the only way of choosing snippets so far


def parse_snippets(value: object) -> int | None:
    """How many snippets a choice such as ``"best:3"`` asks for (an int ``3`` means the same);
    None for None (no snippets: explain the excerpt). A UsageError for anything else."""
    if value is None:
        return None
    if isinstance(value, str):
        choice, _, count = value.partition(":")
        if choice.strip() != SNIPPET_CHOICE or not count.strip().isdigit():
            raise UsageError(f"snippets are chosen as best:N (the N tagger windows where the label is highest), got {value!r}")
        value = int(count)
    return check_snippets(value)


def best_snippets(taggram: np.ndarray, label: int, n: int, hop_seconds: float, window_seconds: float | None = None,
                  total_seconds: float | None = None) -> list[SnippetWindow]:
    """The ``n`` taggram frames where output ``label`` is highest, as non-overlapping windows.

    ``taggram`` is (frames x labels) with frame ``i`` starting at ``i * hop_seconds``;
    ``window_seconds`` is the tagger's input length (default ``hop_seconds``). Frames are taken
    in order of the label's value, highest first (ties: the earlier frame), skipping any frame
    closer than ``round(window_seconds / hop_seconds)`` frames to one already taken, so that no
    two snippets share more than rounding: musicnn's 3-s inputs lie on a 2.992-s grid
    (187 frames of 256 samples at 16 kHz), and its consecutive frames count as disjoint.
    A window that would end past ``total_seconds`` (the song's length) is moved back to end
    there. Fewer than ``n`` windows come back when fewer fit. Returned highest first.
    """
    values = np.asarray(taggram, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise UsageError(f"a taggram is (frames x labels) with at least one frame, got shape {values.shape}")
    if not 0 <= int(label) < values.shape[1]:
        raise UsageError(f"label index {label} is out of range for a taggram of {values.shape[1]} labels")
    check_snippets(n)
    if not (math.isfinite(hop_seconds) and hop_seconds > 0):
        raise UsageError(f"hop_seconds must be a positive number of seconds, got {hop_seconds!r}")
    window = float(hop_seconds if window_seconds is None else window_seconds)
    spacing = max(1, int(round(window / hop_seconds)))
    column = values[:, int(label)]
    chosen: list[int] = []
    for frame in np.argsort(-column, kind="stable"):
        if all(abs(int(frame) - other) >= spacing for other in chosen):
            chosen.append(int(frame))
            if len(chosen) == n:
                break
    windows = []
    for frame in chosen:
        start = frame * float(hop_seconds)
        if total_seconds is not None and start + window > total_seconds:
            start = max(0.0, float(total_seconds) - window)
        windows.append(SnippetWindow(frame, round(start, 6), round(start + window, 6), float(column[frame])))
    return windows


@attrs.frozen(eq=False)
class Snippet:
    """A chosen window of the song and its explanation (for the scanned label)."""

    rank: int  # 1 = the label's highest taggram frame
    window: SnippetWindow
    explanation: Explanation

    def top_component(self, label: str) -> str | None:
        """The component that raised the label most (None: none raised it)."""
        top = self.explanation.top(label, 1)
        return top[0][0] if top else None

    def top_stem(self, label: str) -> str | None:
        name = self.top_component(label)
        return None if name is None else next(c.stem for c in self.explanation.components if c.name == name)

    @property
    def folder(self) -> str:
        """Where :meth:`Scan.save` puts this snippet's explanation, relative to the scan folder."""
        return f"snippets/{safe_name(f'{self.rank:02d}-{self.window.start:.2f}s')}"


@attrs.frozen(eq=False)
class Scan:
    """A whole-song taggram and the explanations of the snippets where ``label`` is highest."""

    audio_path: str | None
    label: str
    tagger_labels: list[str]
    taggram: np.ndarray  # (frames x labels) the tagger's outputs over the whole song
    hop_seconds: float
    window_seconds: float
    pipeline: dict[str, str]
    snippets: list[Snippet]
    dataset: dict[str, Any] = attrs.field(factory=dict)  # explain-dataset's record of this track (track, settings hash, ...)

    def summary(self) -> dict[str, int]:
        """Stem -> how many snippets it is the top explanation of, most first (every stem listed)."""
        stems = list(dict.fromkeys(c.stem for s in self.snippets for c in s.explanation.components))
        counts = Counter(s.top_stem(self.label) for s in self.snippets)
        return dict(sorted(((stem, counts.get(stem, 0)) for stem in stems), key=lambda item: -item[1]))

    def verdict(self) -> str:
        """One line: which stem explains the label in how many snippets."""
        n = len(self.snippets)
        summary = self.summary()
        if not summary or max(summary.values()) == 0:
            return f"no component raises {self.label} in {'its one snippet' if n == 1 else f'any of the {n} snippets'}"
        best = max(summary.values())
        leaders = [stem for stem, count in summary.items() if count == best]
        who = leaders[0] if len(leaders) == 1 else " and ".join(leaders) + " each"
        verb = "explains" if len(leaders) == 1 else "explain"
        return f"{who} {verb} {self.label} in {best} of {plural(n, 'snippet')}"

    def to_dict(self) -> dict[str, Any]:
        """What ``scan.json`` holds (``explanation``: each snippet's folder, relative)."""
        snippets = []
        for snippet in self.snippets:
            explained = snippet.explanation.label(self.label)
            snippets.append({
                "rank": snippet.rank, "frame": snippet.window.frame, "start": snippet.window.start,
                "end": snippet.window.end, "probability": snippet.window.probability,
                "prediction": explained.prediction, "score": explained.score, "weights": dict(explained.weights),
                "top_component": snippet.top_component(self.label), "top_stem": snippet.top_stem(self.label),
                "explanation": snippet.folder,
            })
        return {
            "audio": self.audio_path, "label": self.label, "pipeline": dict(self.pipeline),
            "hop_seconds": self.hop_seconds, "window_seconds": self.window_seconds,
            "snippets": snippets, "summary": self.summary(), "verdict": self.verdict(),
            "taggram": {"labels": list(self.tagger_labels), "values": np.asarray(self.taggram).tolist()},
            **({"dataset": dict(self.dataset)} if self.dataset else {}),
        }

    def save(self, folder: str | Path, k: int = 1, force: bool = False) -> Path:
        """Write the scan as the folder ``folder``, replacing it whole: ``scan.json``,
        ``taggram.png`` (the label and the tags with any frame above 0.3, the snippets marked), each snippet's
        explanation (``Explanation.save``, with its own page) under ``snippets/`` and the page
        ``index.html``. ``k``: components summed in each snippet's ``explanations/<label>.wav``."""
        from .report import render_report
        from .tagging import plot_taggram

        with ResultFolder(folder, kind="scan", inputs=[self.audio_path], force=force) as staging:
            for snippet in self.snippets:
                snippet.explanation.save(staging / snippet.folder, k=k)  # its page comes with the scan's, below
            plot_taggram(self.taggram, self.tagger_labels, self.hop_seconds, staging / "taggram.png",
                         threshold=TAGGRAM_THRESHOLD, title=self.pipeline.get("tagger", ""),
                         marks=[(s.window.start, s.window.end) for s in self.snippets],
                         keep=[self.tagger_labels.index(self.label)], dpi=TAGGRAM_DPI)
            (staging / "scan.json").write_text(json.dumps(_json_safe(self.to_dict()), indent=1, allow_nan=False) + "\n")
            render_report(staging, kind="scan")  # the snippets' pages, then the scan's
        return Path(folder)


__all__ = ["Scan", "Snippet", "SnippetWindow", "best_snippets", "check_snippets", "parse_snippets", "TAGGRAM_THRESHOLD"]
