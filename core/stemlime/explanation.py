"""Explanation values: per-label component weights plus the audio to listen to.

An :class:`Explanation` is a plain value: what the engine found, with the component audio. Its
record (:class:`stemlime.records.ExplanationRecord`, what ``explanation.json`` holds) is
``explanation.record()``; ``explanation.save(folder)`` writes the record with the audio, and
``explanation.summary()`` is the text ``stemlime explain`` prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import attrs
import numpy as np

from .audio import write_wav
from .components import Component
from .errors import StemlimeError, UsageError
from .fs import ResultFolder
from .naming import safe_names
from .records import ExactShapley, ExplanationFiles, ExplanationRecord, LabelExplanation, json_text, write_explanation
from .validators import whole_number

SUMMARY_COLUMNS = 8  # more segments than this (and than stems) print as rows, so that lines stay short


@attrs.frozen(eq=False)
class Neighbourhood:
    """The perturbations and what the tagger said about them."""

    masks: np.ndarray  # (N, K) 0/1, first row all ones
    predictions: np.ndarray  # (N, L) tagger outputs for every label
    distances: np.ndarray  # (N,) cosine distance to the all-ones mask
    kernel_weights: np.ndarray  # (N,)
    distinct_evaluations: int  # tagger runs = distinct masks


@attrs.frozen(eq=False)
class Explanation:
    """Why the tagger said what it said about one excerpt.

    ``component_audio`` (K x T float32 at ``sample_rate``) holds each component as heard by
    the tagger; ``labels`` maps each explained label to its LabelExplanation.
    """

    audio_path: str | None
    start: float  # seconds into the file
    duration: float  # seconds
    sample_rate: int  # Hz, the tagger's
    pipeline: dict[str, str]
    samples: int | str
    seed: int | None
    components: list[Component]
    component_audio: np.ndarray
    labels: dict[str, LabelExplanation]
    neighbourhood: Neighbourhood
    tagger_labels: list[str]
    checks: dict[str, Any] = attrs.field(factory=dict)  # trust checks by name (stemlime.checks), JSON-ready
    sampling: dict[str, Any] = attrs.field(factory=dict)  # samples="auto": the rounds it took (else empty)
    output_kind: str = "probabilities"  # what the tagger's outputs are: "probabilities" or "scores"
    stems_residual_db: float | None = None  # how well the stems add up to the mix, dB (inf: exactly)
    dataset: dict[str, Any] = attrs.field(factory=dict)  # explain-dataset's record of this track (track, settings hash, ...)

    @property
    def distinct_evaluations(self) -> int:
        return self.neighbourhood.distinct_evaluations

    def label(self, label: str | int) -> LabelExplanation:
        """The explanation of one label, by name or by the tagger's output index."""
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            for explained in self.labels.values():
                if explained.index == label:
                    return explained
        elif label in self.labels:
            return self.labels[label]
        raise UsageError(f"label {label!r} was not explained; explained labels: {', '.join(self.labels)}")

    def weights(self, label: str | int) -> dict[str, float]:
        """The surrogate's weight of every component for one label.

        Parameters
        ----------
        label : str or int
            An explained label, by name or by the tagger's output index.

        Returns
        -------
        dict of str to float
            Component name -> weight (the change of the tagger's output, in its units, that
            switching the component on contributes in the local linear model), in the
            explanation's order (by signed or absolute weight, largest first).
        """
        return dict(self.label(label).weights)

    def top(self, label: str | int, k: int | None = None, positive: bool = True) -> list[tuple[str, float]]:
        """The k components that pushed the label up most (``positive=False``: down most)."""
        items = list(self.label(label).weights.items())
        if positive:
            chosen = sorted((i for i in items if i[1] > 0), key=lambda i: -i[1])
        else:
            chosen = sorted((i for i in items if i[1] < 0), key=lambda i: i[1])
        return chosen[:k] if k is not None else chosen

    def audio(self, label: str | int, k: int = 1, positive: bool = True) -> np.ndarray:
        """The listenable explanation: the sum of the top-k components.

        Parameters
        ----------
        label : str or int
            An explained label, by name or by the tagger's output index.
        k : int, default 1
            Number of top components summed.
        positive : bool, default True
            The components that pushed the label up most (False: down most).

        Returns
        -------
        numpy.ndarray
            Float32 waveform of shape (samples,) at :attr:`sample_rate` Hz; silence when no
            component has a weight of that sign.
        """
        index = {c.name: i for i, c in enumerate(self.components)}
        rows = [index[name] for name, _ in self.top(label, k, positive)]
        return self.component_audio[rows].sum(axis=0) if rows else np.zeros(self.component_audio.shape[1], np.float32)

    def excerpt_audio(self) -> np.ndarray:
        """The excerpt as the tagger heard it with every component on (the sum of the components)."""
        return self.component_audio.sum(axis=0)

    # ------------------------------------------------------------------ the record

    def files(self) -> ExplanationFiles:
        """Where :meth:`save` puts the audio, relative to its folder: ``excerpt.wav``,
        ``components/<file>.wav`` per component, ``explanations/<file>.wav`` per label."""
        components = [c.name for c in self.components]
        return ExplanationFiles(
            "excerpt.wav",
            {name: f"components/{file}.wav" for name, file in zip(components, safe_names(components))},
            {name: f"explanations/{file}.wav" for name, file in zip(self.labels, safe_names(list(self.labels)))},
        )

    def record(self, top_k: int | None = None) -> ExplanationRecord:
        """What ``explanation.json`` holds; with ``top_k`` (a saved explanation) also the files."""
        return ExplanationRecord(
            audio=self.audio_path,
            start=self.start,
            duration=self.duration,
            sample_rate=self.sample_rate,
            pipeline=dict(self.pipeline),
            samples=self.samples,
            seed=self.seed,
            distinct_evaluations=self.distinct_evaluations,
            components=list(self.components),
            labels=dict(self.labels),
            checks=dict(self.checks),
            outputs=self.output_kind,
            stems_residual_db=self.stems_residual_db,
            sampling=dict(self.sampling),
            dataset=dict(self.dataset),
            files=None if top_k is None else self.files(),
            top_k=1 if top_k is None else int(top_k),
            exact=self.exact(),
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON types (without ``files`` and ``top_k``, which saving adds)."""
        return self.record().to_json()

    def to_json(self, indent: int | None = 1) -> str:
        """The explanation as strict JSON: an undefined number (NaN) is written as null."""
        return json_text(self.to_dict(), indent).rstrip("\n")

    def listening_audio(self, top_k: int = 1) -> dict[str, np.ndarray]:
        """Every file :meth:`save` writes, as audio: relative path -> float32 at ``sample_rate``."""
        files = self.files()
        audio = {files.excerpt: self.excerpt_audio()}
        audio |= {files.components[c.name]: row for c, row in zip(self.components, self.component_audio)}
        return audio | {files.explanations[name]: self.audio(name, top_k) for name in self.labels}

    def save(
        self,
        folder: str | Path,
        k: int = 1,
        force: bool = False,
        report: bool = False,
        *,
        inputs: Iterable[Any] = (),
        within: str | Path | None = None,
    ) -> Path:
        """Write the explanation as the folder ``folder``, replacing it whole.

        The folder holds ``explanation.json``, ``excerpt.wav`` (every component on),
        ``components/<component>.wav`` and ``explanations/<label>.wav`` (the sum of the top-k
        positive components). File names are made safe and distinct (see
        :func:`stemlime.naming.safe_names`); ``explanation.json`` maps every component and
        label to its file under ``files`` and records ``top_k``.

        Parameters
        ----------
        folder : str or Path
            New, empty, or an earlier stemlime output.
        k : int, default 1
            Components summed in each ``explanations/<label>.wav`` (a whole number of at least 1).
        force : bool, default False
            Also replace a folder stemlime did not write (deleting what it holds), but never one
            that holds the explained audio or any other of ``inputs``.
        report : bool, default False
            Add the listening page ``index.html`` (:mod:`stemlime.report`).
        inputs : iterable, optional
            Further inputs the folder must not hold (e.g. the true stems the oracle read).
        within : str or Path, optional
            The result folder this one is a part of (a dataset's track).

        Returns
        -------
        Path
            ``folder``.
        """
        k = whole_number(k, "top_k", minimum=1, flag="--top-k")
        with ResultFolder(folder, kind="explanation", inputs=[self.audio_path, *inputs], force=force, within=within) as staging:
            for path, audio in self.listening_audio(k).items():
                write_wav(staging / path, audio, self.sample_rate)
            write_explanation(staging, self.record(top_k=k))
            if report:
                from .report import render_report

                render_report(staging, kind="explanation")
        return Path(folder)

    # ------------------------------------------------------------------ text

    def summary(self) -> str:
        """What ``stemlime explain`` prints.

        Returns
        -------
        str
            The run, then per label its output, the surrogate's fit (weighted R^2) and the
            weights (with time segments, a table of stems by segments), then the checks.
        """
        samples = f"{len(self.neighbourhood.masks)} samples"
        if self.sampling:
            stable = "stable" if self.sampling["stable"] else "NOT stable at the most samples tried"
            samples += f" (auto: {len(self.sampling['rounds'])} rounds, ranking of all components {stable})"
        lines = [
            f"explained {self.audio_path or 'an array'} ({self.start:.2f}-{self.start + self.duration:.2f} s) with "
            f"{len(self.components)} components, {self.distinct_evaluations} tagger evaluations of {samples}"
        ]
        kind = "probability" if self.output_kind == "probabilities" else "score"
        for name, label in self.labels.items():
            lines += ["", f"{name}: {kind} {label.prediction:.3f}, surrogate R^2 {label.score:.3f}"]
            if not label.moves:
                lines.append(
                    f"  the output does not move when components are switched off (by {label.output_range:.1e}): no component explains it"
                )
                continue
            lines += weight_lines(label, self.components)
            lines += [f"  {note}" for note in self.shapley_notes(name)]
        if self.checks:
            from .report.tables import format_checks

            lines += ["", format_checks(self.checks)]
        return "\n".join(lines)

    # ------------------------------------------------------------------ exact values (every mask evaluated)

    def games(self) -> np.ndarray | None:
        """(2^K, L) outputs of every coalition of components (row = bit pattern, bit i: component i
        on) when the neighbourhood holds all 2^K masks and K <= 10 (``samples="exhaustive"``), else None."""
        from .shapley import MOST_EXACT

        k = len(self.components)
        masks = np.asarray(self.neighbourhood.masks, dtype=np.int64)
        if not 1 <= k <= MOST_EXACT or masks.ndim != 2 or masks.shape[1] != k:
            return None
        codes = masks @ (1 << np.arange(k, dtype=np.int64))
        if len(np.unique(codes)) != 2**k:
            return None
        table = np.zeros((2**k, np.asarray(self.neighbourhood.predictions).shape[1]))
        table[codes] = np.asarray(self.neighbourhood.predictions, dtype=np.float64)
        return table

    def shapley(self, label: str | int) -> dict[str, Any] | None:
        """For an exhaustive explanation (K <= 10): the exact Shapley ``values`` {component: value}
        and pairwise ``interactions`` {(a, b): index} of ``label``; None otherwise."""
        from .shapley import interaction_indices, shapley_values

        table = self.games()
        if table is None:
            return None
        index = self.label(label).index
        k = len(self.components)
        names = [c.name for c in self.components]
        values = shapley_values(table[:, index], k)
        pairs = interaction_indices(table[:, index], k) if k >= 2 else np.zeros((k, k))
        return {
            "values": dict(zip(names, map(float, values))),
            "game": table[:, index],
            "interactions": {(names[i], names[j]): float(pairs[i, j]) for i in range(k) for j in range(i + 1, k)},
            "matrix": pairs,
            "array": values,
        }

    def exact(self) -> dict[str, ExactShapley]:
        """Per label, the exact Shapley values, pairwise interaction indices and the summary's notes
        on them (what ``explanation.json`` holds under ``exact``); empty unless every mask of
        K <= 10 components was evaluated."""
        out = {}
        for name in self.labels:
            exact = self.shapley(name)
            if exact is not None:
                out[name] = ExactShapley(exact["values"], exact["interactions"], self.shapley_notes(name))
        return out

    def shapley_notes(self, label: str | int) -> list[str]:
        """Sentences for the summary: pairs of components whose interaction is large next to their
        main effects, and a disagreement between the surrogate's and the exact top component."""
        from .shapley import notable_interactions, together_sentence

        exact = self.shapley(label)
        if exact is None:
            return []
        names = [c.name for c in self.components]
        notes = [
            together_sentence(names, i, j, exact["game"]) for i, j, _ in notable_interactions(exact["array"], exact["matrix"], names)[:3]
        ]
        weights = self.weights(label)
        if weights:
            lime_top = max(weights, key=lambda name: weights[name])
            shapley_top = names[int(np.argmax(exact["array"]))]
            if lime_top != shapley_top:
                notes.append(
                    f"the surrogate's top component ({lime_top}) is not the exact Shapley top ({shapley_top} "
                    f"{exact['values'][shapley_top]:+.3f}; {lime_top} {exact['values'][lime_top]:+.3f})"
                )
        return notes

    # ------------------------------------------------------------------ notebooks

    def _repr_html_(self) -> str:
        """The report's explanation card for Jupyter, with every player's audio embedded (base64 WAV)."""
        from .report import notebook_card

        return notebook_card(self.record(top_k=1), self.listening_audio(1), self.sample_rate)

    def play(self, label: str | int, k: int = 1, positive: bool = True) -> Any:
        """An ``IPython.display.Audio`` player of the listenable explanation of ``label`` (the
        sum of its top-k components, as :meth:`audio`). Needs IPython (Jupyter has it)."""
        try:
            from IPython.display import Audio
        except ImportError:
            raise StemlimeError("explanation.play needs IPython, which Jupyter brings: pip install ipython (or jupyter)") from None
        audio = self.audio(label, k, positive)
        # IPython scales to full range when asked; keep the level the tagger heard unless it would clip
        return Audio(audio, rate=self.sample_rate, normalize=bool(np.abs(audio).max(initial=0) > 1))


def weight_lines(label: LabelExplanation, components: list[Component]) -> list[str]:
    """A label's weights as lines: a flat list for stems alone; with time segments, a row per stem
    (and band) and a column per segment (a row per segment when there are many), then the top
    components."""
    if all(c.segment is None for c in components):
        return [f"  {weight:+.4f}  {component}" for component, weight in label.weights.items()]
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    for c in components:
        row = c.stem if c.band is None else f"{c.stem} {c.band[0]:.0f}-{c.band[1]:.0f}Hz"
        column = c.segment if c.band is None else f"{c.start:.2f}-{c.end:.2f}s"
        assert column is not None
        if column not in columns:
            columns.append(column)
        weight = label.weights.get(c.name)
        rows.setdefault(row, {})[column] = "." if weight is None else f"{weight:+.4f}"  # "." = left out by the surrogate
    title = "weight by segment"
    if len(columns) > SUMMARY_COLUMNS and len(columns) > len(rows):  # long excerpts: time runs down the page
        rows, columns = {col: {row: cells.get(col, "") for row, cells in rows.items()} for col in columns}, list(rows)
        title = "segment"
    first = max(len(title), *(len(r) for r in rows))
    widths = [max(8, len(column)) for column in columns]
    lines = ["  " + title.ljust(first) + "".join(f"  {col:>{w}}" for col, w in zip(columns, widths))]
    for row, cells in rows.items():
        lines.append("  " + row.ljust(first) + "".join(f"  {cells.get(col, ''):>{w}}" for col, w in zip(columns, widths)))
    top = list(label.weights.items())[:3]
    lines.append("  top: " + ", ".join(f"{weight:+.4f} {name}" for name, weight in top))
    return lines


__all__ = ["Explanation", "LabelExplanation", "Neighbourhood", "weight_lines"]
