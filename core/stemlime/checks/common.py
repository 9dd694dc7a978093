"""What the checks share: the engine over an explanation's components, seeds, JSON-safe numbers.

Every check but complexity needs more surrogate fits on the explanation's own components (no
second separation). They get them from the explanation engine (:mod:`stemlime.engine`), seeded
with the explanation's own neighbourhood, so that a mask is evaluated once per tagger.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import Engine
from ..errors import UsageError
from ..explanation import Explanation


def check_seed(explanation: Explanation) -> int:
    """The seed the checks derive theirs from: the explanation's (0 when it had none), so that
    checks are reproducible even for an unseeded explanation."""
    return 0 if explanation.seed is None else int(explanation.seed)


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined statistics are written as null."""
    value = float(value)
    return value if math.isfinite(value) else None


def explanation_engine(pipeline: Any, explanation: Explanation, batch_size: int | None = None) -> Engine:
    """The engine over ``explanation``'s components with ``pipeline``'s tagger and surrogate,
    remembering the tagger outputs of the explanation's neighbourhood."""
    engine = pipeline.engine(explanation.component_audio, batch_size=batch_size)
    engine.remember(explanation.neighbourhood.masks, explanation.neighbourhood.predictions)
    return engine


def label_indices(explanation: Explanation) -> list[int]:
    """The tagger output index of each explained label, in the order of ``explanation.labels``."""
    indices = [label.index for label in explanation.labels.values()]
    if any(index is None for index in indices):  # a label read from a schema-1 file
        names = [name for name, label in explanation.labels.items() if label.index is None]
        raise UsageError(
            f"the explanation does not say which tagger output {', '.join(names)} is (a file of stemlime "
            "before schema 2); explain it again to check it"
        )
    return [int(index) for index in indices if index is not None]


def explanation_weights(explanation: Explanation) -> np.ndarray:
    """(labels, K) the explanation's own weights in component order (0 for unselected components)."""
    names = [component.name for component in explanation.components]
    return np.array([[label.weights.get(name, 0.0) for name in names] for label in explanation.labels.values()])
