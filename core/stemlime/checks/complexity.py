"""Complexity: how spread out an explanation is (audioLIME's ``compute_complexity``).

The entropy of the normalized absolute weights, in base K (the number of weights), so that 0
means one component carries everything and 1 means all components weigh the same.
"""

from __future__ import annotations

import numpy as np

from ..explanation import Explanation
from .common import finite_or_none


def complexity(weights: np.ndarray) -> float:
    """Entropy of |w| / sum|w| in base len(w), in [0, 1]; 0 for a single weight, NaN for all zeros."""
    magnitudes = np.abs(np.asarray(weights, dtype=np.float64))
    total = magnitudes.sum()
    if total == 0:
        return float("nan")
    if len(magnitudes) == 1:
        return 0.0
    shares = magnitudes[magnitudes > 0] / total
    return float(-(shares * np.log(shares)).sum() / np.log(len(magnitudes)))


def explanation_complexity(explanation: Explanation) -> dict[str, float | None]:
    """Complexity of each label's weights (the components its surrogate used)."""
    return {
        name: finite_or_none(complexity(np.array(list(label.weights.values()), dtype=float))) for name, label in explanation.labels.items()
    }
