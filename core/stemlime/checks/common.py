"""Explaining the same components again: with other seeds, other sample counts or another tagger.

Every check but complexity needs more surrogate fits on the explanation's own components (no
second separation). The tagger is the expensive part, so each distinct mask is evaluated once
per tagger and remembered; the explanation's own neighbourhood seeds the memory.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..explainer import fit_surrogates, tagger_outputs, weighted_neighbourhood
from ..explanation import Explanation
from ..surrogate import surrogate_masks


def check_seed(explanation: Explanation) -> int:
    """The seed the checks derive theirs from: the explanation's (0 when it had none), so that
    checks are reproducible even for an unseeded explanation."""
    return 0 if explanation.seed is None else int(explanation.seed)


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined statistics are written as null."""
    value = float(value)
    return value if math.isfinite(value) else None


class Refitter:
    """Tagger outputs and surrogate weights for any masks over ``explanation``'s components.

    ``tagger`` defaults to the pipeline's; another tagger (e.g. a randomized copy) starts with
    an empty memory. ``weights`` returns one weight vector (K,) per explained label, in the
    order of ``explanation.labels``.
    """

    def __init__(self, pipeline: Any, explanation: Explanation, tagger: Any = None, batch_size: int | None = None):
        self.pipeline = pipeline
        self.explanation = explanation
        self.tagger = pipeline.tagger if tagger is None else tagger
        self.batch_size = int(batch_size or pipeline.batch_size)
        self.label_indices = [label.index for label in explanation.labels.values()]
        self.n_components = len(explanation.components)
        self.evaluations = 0  # tagger runs made by this refitter (distinct new masks)
        self._memory: dict[bytes, np.ndarray] = {}
        if tagger is None:
            neighbourhood = explanation.neighbourhood
            for mask, prediction in zip(np.asarray(neighbourhood.masks, np.int64), neighbourhood.predictions):
                self._memory.setdefault(mask.tobytes(), prediction)

    def outputs(self, masks: np.ndarray) -> np.ndarray:
        """(N, L) tagger outputs for (N, K) masks; new distinct masks run through the tagger."""
        masks = np.ascontiguousarray(masks, dtype=np.int64)
        missing = {}
        for mask in masks:
            key = mask.tobytes()
            if key not in self._memory:
                missing.setdefault(key, mask)
        if missing:
            new = np.stack(list(missing.values()))
            predictions, _ = tagger_outputs(new, self.explanation.component_audio, self.tagger, self.batch_size,
                                            self.pipeline.empty_mask, progress=False)
            self.evaluations += len(new)
            self._memory.update(zip(missing, predictions))
        return np.stack([self._memory[mask.tobytes()] for mask in masks])

    def weights(self, samples: int | str, seed: int | None) -> np.ndarray:
        """(labels, K) surrogate weights from a fresh neighbourhood of ``samples`` masks drawn with ``seed``."""
        masks = surrogate_masks(self.pipeline.surrogate, self.n_components, samples, seed)
        fits = fit_surrogates(weighted_neighbourhood(masks, self.outputs(masks), self.pipeline.kernel_width),
                              self.label_indices, self.pipeline.surrogate)
        return np.stack([np.asarray(fits[i].weights, dtype=np.float64) for i in self.label_indices])


def explanation_weights(explanation: Explanation) -> np.ndarray:
    """(labels, K) the explanation's own weights in component order (0 for unselected components)."""
    names = [component.name for component in explanation.components]
    return np.array([[label.weights.get(name, 0.0) for name in names] for label in explanation.labels.values()])
