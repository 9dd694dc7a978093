"""The song scan (audioLIME's Section 5): tag a whole song, explain its best snippets for a label.

    scan = stemlime.scan(pipeline, "song.wav", label="jazz", snippets=3)
    scan.verdict()              # 'piano explains jazz in 3 of 3 snippets'
    scan.save("scan-out/")      # scan.json, taggram.png, index.html, snippets/<rank>-<start>s/

The song's taggram (``Pipeline.taggram``) picks the snippets: :func:`best_snippets`, a pure
function of the taggram, the label and N, which anyone choosing snippets calls (the dataset
runner's ``--snippets best:N`` too). Each snippet is explained with ``Pipeline.explain``; the
song is separated once and every snippet cuts its stems from that (:mod:`stemlime.stemcache`).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import attrs
import numpy as np

from . import audio as audio_io
from .errors import UsageError
from .explanation import Explanation
from .fs import ResultFolder
from .labels import label_indices
from .naming import safe_name
from .records import ScanRecord, SnippetRecord, write_scan
from .stemcache import StemCache
from .validators import whole_number
from .wording import plural

if TYPE_CHECKING:  # the scan takes a pipeline; the pipeline knows nothing of scans
    from .pipeline import Pipeline
    from .stemgrams import Stemgram

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
    return whole_number(n, "snippets", minimum=1, flag="--snippets")


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


def best_snippets(
    taggram: np.ndarray, label: int, n: int, hop_seconds: float, window_seconds: float | None = None, total_seconds: float | None = None
) -> list[SnippetWindow]:
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
        """The component that raised the label most (None: none raised it, or the tagger's output
        does not move in this snippet)."""
        if not self.explanation.label(label).moves:
            return None
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
    stemgram: "Stemgram | None" = None  # the song's stemgram for the label (scan(..., stemgram=True))

    STEMGRAM_FOLDER = "stemgram"  # where :meth:`save` puts it

    def stem_counts(self) -> dict[str, int]:
        """Stem -> how many snippets it is the top explanation of, most first (every stem listed)."""
        stems = list(dict.fromkeys(c.stem for s in self.snippets for c in s.explanation.components))
        counts = Counter(s.top_stem(self.label) for s in self.snippets)
        return dict(sorted(((stem, counts.get(stem, 0)) for stem in stems), key=lambda item: -item[1]))

    def verdict(self) -> str:
        """One line: which stem explains the label in how many snippets."""
        n = len(self.snippets)
        counts = self.stem_counts()
        if n and not any(s.explanation.label(self.label).moves for s in self.snippets):
            where = "its one snippet" if n == 1 else f"any of the {n} snippets"
            return f"no stem explains {self.label}: the tagger's output does not move in {where} when stems are switched off (silence?)"
        if not counts or max(counts.values()) == 0:
            return f"no component raises {self.label} in {'its one snippet' if n == 1 else f'any of the {n} snippets'}"
        best = max(counts.values())
        leaders = [stem for stem, count in counts.items() if count == best]
        who = leaders[0] if len(leaders) == 1 else " and ".join(leaders) + " each"
        verb = "explains" if len(leaders) == 1 else "explain"
        return f"{who} {verb} {self.label} in {best} of {plural(n, 'snippet')}"

    def summary(self) -> str:
        """What ``stemlime scan`` prints: the taggram, each snippet with its top component, the verdict."""
        lines = [
            f"scanned {self.audio_path or 'an array'}: {len(self.taggram)} taggram frames of {self.hop_seconds:.3f} s; "
            f"the {plural(len(self.snippets), 'snippet')} where {self.label} is highest:"
        ]
        for snippet in self.snippets:
            top = snippet.top_component(self.label)
            weight = "" if top is None else f" {snippet.explanation.weights(self.label)[top]:+.4f}"
            lines.append(
                f"  {snippet.rank}. {snippet.window.start:8.2f}-{snippet.window.end:.2f} s  {self.label} "
                f"{snippet.window.probability:.3f}  top: {top or '(none raises it)'}{weight}"
            )
        lines += ["", self.verdict()]
        if self.stemgram is not None:
            lines += ["", "every frame, exactly (the stemgram):"] + [
                f"  {line.strip()}" for line in self.stemgram.summary().splitlines()[1:]
            ]
        return "\n".join(lines)

    def record(self) -> ScanRecord:
        """What ``scan.json`` holds (each snippet's explanation: its folder, relative)."""
        snippets = []
        for snippet in self.snippets:
            explained = snippet.explanation.label(self.label)
            snippets.append(
                SnippetRecord(
                    rank=snippet.rank,
                    frame=snippet.window.frame,
                    start=snippet.window.start,
                    end=snippet.window.end,
                    probability=snippet.window.probability,
                    prediction=explained.prediction,
                    score=explained.score,
                    weights=dict(explained.weights),
                    top_component=snippet.top_component(self.label),
                    top_stem=snippet.top_stem(self.label),
                    explanation=snippet.folder,
                )
            )
        return ScanRecord(
            self.audio_path,
            self.label,
            dict(self.pipeline),
            self.hop_seconds,
            self.window_seconds,
            snippets,
            self.stem_counts(),
            self.verdict(),
            list(self.tagger_labels),
            np.asarray(self.taggram),
            dict(self.dataset),
            None if self.stemgram is None else f"{self.STEMGRAM_FOLDER}/",
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON types."""
        return self.record().to_json()

    def save(
        self, folder: str | Path, k: int = 1, force: bool = False, *, inputs: Sequence[Any] = (), within: str | Path | None = None
    ) -> Path:
        """Write the scan as the folder ``folder``, replacing it whole: ``scan.json``,
        ``taggram.png`` (the label and the tags with any frame above 0.3, the snippets marked), each snippet's
        explanation (``Explanation.save``, with its own page) under ``snippets/`` and the page
        ``index.html``, and the song's stemgram under ``stemgram/`` when the scan has one. ``k``:
        components summed in each snippet's ``explanations/<label>.wav``; ``inputs``, ``within``:
        as for ``Explanation.save``."""
        from .report import render_report
        from .tagging import plot_taggram

        k = whole_number(k, "top_k", minimum=1, flag="--top-k")
        with ResultFolder(folder, kind="scan", inputs=[self.audio_path, *inputs], force=force, within=within) as staging:
            for snippet in self.snippets:
                # its page comes with the scan's, below; a dataset's track lies within the dataset's folder
                snippet.explanation.save(staging / snippet.folder, k=k, within=within)
            if self.stemgram is not None:
                self.stemgram.save(staging / self.STEMGRAM_FOLDER, within=within)
            plot_taggram(
                self.taggram,
                self.tagger_labels,
                self.hop_seconds,
                staging / "taggram.png",
                threshold=TAGGRAM_THRESHOLD,
                title=self.pipeline.get("tagger", ""),
                marks=[(s.window.start, s.window.end) for s in self.snippets],
                keep=[self.tagger_labels.index(self.label)],
                dpi=TAGGRAM_DPI,
            )
            write_scan(staging, self.record())
            render_report(staging, kind="scan")  # the snippets' pages, then the scan's
        return Path(folder)


SCAN_IGNORES = ("start", "duration")  # a scan tags the whole song: an excerpt's span does not apply


def _scan_label(pipeline: "Pipeline", label: str | int | None) -> int | None:
    """The output index a scan follows: the one given, else the pipeline file's one label, else
    None (the song's top label, found from its taggram)."""
    defaults = pipeline.explain_defaults
    ignored = [key for key in SCAN_IGNORES if defaults.get(key) not in (None, 0, 0.0)]
    if ignored:
        raise UsageError(
            f"a scan tags the whole song, so the pipeline file's [explain] {' and '.join(ignored)} do(es) not "
            "apply: remove it from the file for the scan, or explain an excerpt with stemlime explain"
        )
    if defaults.get("top_labels") not in (None, 1):
        raise UsageError(
            f"a scan follows one label, but the pipeline file's [explain] asks for top_labels = "
            f"{defaults['top_labels']}: give --label NAME, or remove top_labels from the file"
        )
    if label is None and defaults.get("labels") is not None:
        label = defaults["labels"]
        if isinstance(label, list):
            if len(label) != 1:
                raise UsageError(
                    f"a scan follows one label, but the pipeline file's [explain] gives {len(label)} labels: "
                    "give --label NAME, or keep one label in the file"
                )
            label = label[0]
    if label is None:
        return None
    index = label_indices(pipeline.tagger_labels, label)
    if len(index) != 1:
        raise UsageError(f"a scan follows one label, got {label!r}")
    return index[0]


def scan(
    pipeline: "Pipeline",
    source: Any,
    *,
    label: str | int | None = None,
    snippets: int = 3,
    sample_rate: int | None = None,
    samples: int | str | None = None,
    seed: int | None = None,
    pad: bool | None = None,
    checks: Sequence[str] | str | None = None,
    out: str | Path | None = None,
    top_k: int | None = None,
    force: bool | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
    stemgram: bool = False,
) -> Scan:
    """The song scan: tag the whole song, pick the snippets where a label is highest, explain each.

    The song is separated once: every snippet cuts its stems from the same separation (the
    pipeline's stem cache; without one, a cache in memory for this scan). Every option and the
    output folder are checked before the taggram runs.

    Parameters
    ----------
    pipeline : Pipeline
        The tagger, separator, segmenter and surrogate to use.
    source : str, Path or numpy.ndarray
        An audio file, or a mono waveform of shape (samples,) at ``sample_rate``.
    label : str or int, optional
        The label to scan for, by name or output index. Default: the pipeline file's one
        label, else the song's top label (the highest mean over the taggram's frames, what
        musicnn reports for a whole song).
    snippets : int, default 3
        Number of tagger input windows to explain, those where ``label`` is highest
        (:func:`best_snippets`).
    sample_rate : int, optional
        Sample rate of an array ``source``, in Hz.
    samples, seed, pad, checks, batch_size, progress
        As in :meth:`stemlime.Pipeline.explain`, for each snippet.
    out : str or Path, optional
        Save the scan there (:meth:`Scan.save` with ``top_k`` and ``force``): ``scan.json``,
        ``taggram.png``, ``index.html`` and ``snippets/``.
    top_k : int, optional
        Top positive components summed into each snippet's listenable explanation (default 1).
    force : bool, optional
        Replace an ``out`` folder that stemlime did not write.
    stemgram : bool, default False
        Also compute the song's stemgram for the label (:func:`stemlime.stemgram`: every
        frame's exact stem values, from the same separation), saved under ``stemgram/`` and
        linked from the scan's page.

    Returns
    -------
    Scan
        The label, the taggram (frames x labels over the whole song, with ``hop_seconds`` and
        ``window_seconds``) and the snippets: each a window (``start``/``end`` in seconds into
        the song) with its :class:`~stemlime.Explanation`.
    """
    check_snippets(snippets)
    index = _scan_label(pipeline, label)
    request = pipeline.request(
        samples=samples, seed=seed, pad=pad, checks=checks, out=out, top_k=top_k, force=force, start=0.0, duration=None
    )
    inputs = pipeline.inputs_of(source)
    request.check_output(inputs)
    if isinstance(source, (str, Path)):
        total = audio_io.audio_info(source)[2]
    else:
        total = len(audio_io.as_mix(source, sample_rate)) / audio_io.as_sample_rate(sample_rate)
    values, hop = pipeline.taggram(source, sample_rate=sample_rate)
    if index is None:
        index = int(np.argmax(np.asarray(values).mean(axis=0)))  # the first of equal means
    name = pipeline.tagger_labels[index]
    window = float(pipeline.tagger.input_seconds or hop)
    windows = best_snippets(values, index, snippets, hop, window, total)
    song = pipeline if pipeline.cache is not None else pipeline.with_cache(StemCache(disk=False))
    gram = None
    if stemgram:  # first: it separates the song (and refuses more than 8 stems) before any snippet is explained
        from .stemgrams import stemgram as song_stemgram

        gram = song_stemgram(song, source, labels=[index], sample_rate=sample_rate, batch_size=batch_size)
    snippet_request = request.replace(labels=(index,), top_labels=None, out=None)
    # a song shorter than one tagger input is one snippet of the whole song (explain pads it, or says to)
    explained = [
        Snippet(
            rank,
            chosen,
            song.explain(
                source,
                sample_rate=sample_rate,
                batch_size=batch_size,
                progress=progress,
                request=snippet_request.replace(start=chosen.start, duration=(total if total < window else chosen.end) - chosen.start),
            ),
        )
        for rank, chosen in enumerate(windows, 1)
    ]
    result = Scan(
        audio_path=None if not isinstance(source, (str, Path)) else str(source),
        label=name,
        tagger_labels=pipeline.tagger_labels,
        taggram=np.asarray(values),
        hop_seconds=float(hop),
        window_seconds=window,
        pipeline=dict(pipeline.specs),
        snippets=explained,
        stemgram=gram,
    )
    if request.out is not None:
        result.save(request.out, k=request.top_k, force=request.force, inputs=inputs)
    return result


__all__ = ["Scan", "Snippet", "SnippetWindow", "best_snippets", "check_snippets", "parse_snippets", "scan", "TAGGRAM_THRESHOLD"]
