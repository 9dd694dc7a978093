"""Explanation values: per-label component weights plus the audio to listen to."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from .audio import write_wav
from .components import Component
from .errors import UsageError


def safe_filename(text: str) -> str:
    """A file name made from any label or component text (letters, digits, ``.@_-`` kept)."""
    name = re.sub(r"[^A-Za-z0-9.@_-]+", "_", text).strip("._")
    return name or "label"


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
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, folder: str | Path, k: int = 1) -> Path:
        """Write ``explanation.json``, ``components/<component>.wav`` and
        ``explanations/<label>.wav`` (the top-k positive components) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for component, audio in zip(self.components, self.component_audio):
            write_wav(folder / "components" / f"{safe_filename(component.name)}.wav", audio, self.sample_rate)
        for name in self.labels:
            write_wav(folder / "explanations" / f"{safe_filename(name)}.wav", self.audio(name, k), self.sample_rate)
        (folder / "explanation.json").write_text(self.to_json() + "\n")
        return folder
