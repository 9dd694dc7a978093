"""Explanation values: per-label component weights plus the audio to listen to."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .audio import write_wav
from .components import Component
from .errors import StemlimeError, UsageError
from .output import ResultFolder, safe_names


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null, recursively (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _finite_or_text(value: float | None) -> float | str | None:
    """A residual in dB for JSON: ``"inf"`` when the stems add up exactly."""
    if value is None:
        return None
    return "inf" if value == math.inf else (None if not math.isfinite(value) else float(value))


@attrs.frozen(eq=False)
class LabelExplanation:
    """The surrogate fitted for one label; ``weights`` is ordered as the explanation sorts."""

    label: str
    index: int  # position in the tagger's output
    prediction: float  # tagger output on the unperturbed excerpt (all components on)
    weights: dict[str, float]
    intercept: float
    score: float  # weighted R^2 of the surrogate on the neighbourhood
    local_prediction: float  # the surrogate's output for the all-ones mask
    rules: list[str] = attrs.field(factory=list)  # rule surrogates (tree): "vocals on and drums off -> 0.73"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "weights": dict(self.weights),
            "intercept": self.intercept,
            "score": self.score,
            "local_prediction": self.local_prediction,
        }
        if self.rules:
            out["rules"] = list(self.rules)
        return out


@attrs.frozen(eq=False)
class Neighbourhood:
    """The perturbations and what the tagger said about them."""

    masks: np.ndarray  # (N, K) 0/1, first row all ones
    predictions: np.ndarray  # (N, L) tagger probabilities for every label
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
        """Component name -> weight, in the explanation's order."""
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
        """The listenable explanation: the sum of the top-k components (float32, ``sample_rate``).

        Silence when no component has a weight of that sign.
        """
        index = {c.name: i for i, c in enumerate(self.components)}
        rows = [index[name] for name, _ in self.top(label, k, positive)]
        return self.component_audio[rows].sum(axis=0) if rows else np.zeros(self.component_audio.shape[1], np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "audio": self.audio_path,
            "start": self.start,
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "pipeline": dict(self.pipeline),
            "samples": self.samples,
            "seed": self.seed,
            "distinct_evaluations": self.distinct_evaluations,
            "components": [c.to_dict() for c in self.components],
            "prediction": {name: e.prediction for name, e in self.labels.items()},
            "labels": {name: e.to_dict() for name, e in self.labels.items()},
            "checks": dict(self.checks),
            "outputs": self.output_kind,
            "stems_residual_db": _finite_or_text(self.stems_residual_db),
            **({"sampling": dict(self.sampling)} if self.sampling else {}),
            **({"dataset": dict(self.dataset)} if self.dataset else {}),
        }

    def to_json(self, indent: int | None = 1) -> str:
        """The explanation as strict JSON: an undefined number (NaN) is written as null."""
        return json.dumps(_json_safe(self.to_dict()), indent=indent, allow_nan=False)

    def excerpt_audio(self) -> np.ndarray:
        """The excerpt as the tagger heard it with every component on (the sum of the components)."""
        return self.component_audio.sum(axis=0)

    def files(self) -> dict[str, Any]:
        """Where :meth:`save` puts the audio, relative to its folder: ``{"excerpt": "excerpt.wav",
        "components": {component: "components/<file>.wav"}, "explanations": {label: ...}}``."""
        components = [c.name for c in self.components]
        return {
            "excerpt": "excerpt.wav",
            "components": {name: f"components/{file}.wav" for name, file in zip(components, safe_names(components))},
            "explanations": {name: f"explanations/{file}.wav" for name, file in zip(self.labels, safe_names(list(self.labels)))},
        }

    def save(self, folder: str | Path, k: int = 1, force: bool = False, report: bool = False) -> Path:
        """Write ``explanation.json``, ``excerpt.wav`` (every component on), ``components/<component>.wav``
        and ``explanations/<label>.wav`` (the sum of the top-k positive components) as the folder
        ``folder``, replacing it whole; ``report=True`` adds the page ``index.html``
        (:mod:`stemlime.report`).

        File names are made safe and distinct (see :func:`stemlime.output.safe_names`);
        ``explanation.json`` maps every component and label to its file under ``files`` and
        records ``top_k``. ``folder`` may be new, empty or an earlier stemlime output;
        ``force=True`` also replaces another folder (deleting what it holds), but never one that
        holds the explained audio.
        """
        files = self.files()
        with ResultFolder(folder, kind="explanation", inputs=[self.audio_path], force=force) as staging:
            write_wav(staging / files["excerpt"], self.excerpt_audio(), self.sample_rate)
            for component, audio in zip(self.components, self.component_audio):
                write_wav(staging / files["components"][component.name], audio, self.sample_rate)
            for name in self.labels:
                write_wav(staging / files["explanations"][name], self.audio(name, k), self.sample_rate)
            saved = self.to_dict() | {"files": files, "top_k": int(k)}
            (staging / "explanation.json").write_text(json.dumps(saved, indent=1) + "\n")
            if report:
                from .report import render_report

                render_report(staging, kind="explanation")
        return Path(folder)

    # ------------------------------------------------------------------ notebooks

    def _repr_html_(self) -> str:
        """The report's explanation card for Jupyter, with every player's audio embedded (base64 WAV)."""
        from .report import notebook_card

        return notebook_card(self)

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
