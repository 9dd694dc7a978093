"""What every surrogate returns, and the weighted R^2 they report.

A surrogate is fitted on ``masks`` (N x K, 0/1), ``targets`` (N,) the tagger's output for one
label and ``sample_weights`` (N,) the kernel weights of the neighbourhood.
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen(eq=False)
class SurrogateFit:
    """A local model fitted on (masks, tagger outputs, kernel weights) for one label.

    ``weights`` has one entry per component (0 for components the feature selection left
    out); ``selected`` lists the components the model used, in selection order. ``rules``
    (rule surrogates only) holds the model's leaves: ``(conditions, value)`` with conditions
    ``((component index, switched on), ...)``.
    """

    weights: np.ndarray
    intercept: float
    score: float  # weighted R^2 on the neighbourhood
    local_prediction: float  # the surrogate's output for the all-ones mask
    selected: np.ndarray
    rules: tuple = ()


def weighted_r2(targets: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> float:
    """Weighted coefficient of determination (1 when the targets are constant and matched)."""
    mean = np.average(targets, weights=weights)
    total = float(np.sum(weights * (targets - mean) ** 2))
    residual = float(np.sum(weights * (targets - predictions) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total
