"""What a surrogate returns, and the linear surrogates: LIME's ridge, lasso and plain least squares.

A surrogate is fitted on ``masks`` (N x K, 0/1), ``targets`` (N,) the tagger's probability for
one label and ``sample_weights`` (N,) LIME's kernel weights. A surrogate may also choose its own
neighbourhood with ``sample_masks(n_components, samples, seed)`` (kernel SHAP needs particular
coalitions); the pipeline asks it first and falls back to LIME's uniform masks.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .errors import UsageError
from .lime import sample_masks, select_features


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


def surrogate_masks(surrogate: Any, n_components: int, samples: int | str, seed: int | None) -> np.ndarray:
    """The neighbourhood for ``surrogate``: its own ``sample_masks`` when it has one, else LIME's.

    Either way the first mask is all ones (the unperturbed excerpt).
    """
    own = getattr(surrogate, "sample_masks", None)
    masks = own(n_components, samples, seed) if callable(own) else sample_masks(n_components, samples, seed)
    masks = np.asarray(masks, dtype=np.int64)
    if masks.ndim != 2 or masks.shape[1] != n_components or not np.all(masks[0] == 1):
        raise UsageError(f"surrogate {type(surrogate).__name__} drew masks of shape {masks.shape} whose first row is not all ones")
    return masks


def weighted_r2(targets: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> float:
    """Weighted coefficient of determination (1 when the targets are constant and matched)."""
    mean = np.average(targets, weights=weights)
    total = float(np.sum(weights * (targets - mean) ** 2))
    residual = float(np.sum(weights * (targets - predictions) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _linear_fit(model: Any, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray, selected: np.ndarray) -> SurrogateFit:
    model.fit(masks[:, selected], targets, sample_weight=sample_weights)
    score = model.score(masks[:, selected], targets, sample_weight=sample_weights)
    local = model.predict(masks[:1, selected])[0]
    weights = np.zeros(masks.shape[1])
    weights[selected] = model.coef_
    return SurrogateFit(weights, float(model.intercept_), float(score), float(local), np.asarray(selected))


@attrs.frozen
class RidgeSurrogate:
    """LIME's default: feature selection, then Ridge(alpha) with intercept, weighted by the kernel."""

    alpha: float = 1.0
    feature_selection: str = "auto"
    num_features: int = 100000  # LIME's "all"

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> SurrogateFit:
        masks = np.asarray(masks)
        selected = select_features(masks, targets, sample_weights, self.num_features, self.feature_selection)
        from sklearn.linear_model import Ridge

        return _linear_fit(Ridge(alpha=self.alpha, fit_intercept=True), masks, targets, sample_weights, selected)


@attrs.frozen
class LassoSurrogate:
    """Weighted Lasso(alpha) with intercept: a sparse explanation, small effects set to exactly 0.

    ``alpha`` multiplies the L1 penalty on the weights (scikit-learn's objective, in units of
    the tagger's probability); every component stays listed, the unused ones with weight 0.
    """

    alpha: float = 0.001

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> SurrogateFit:
        if self.alpha < 0:
            raise UsageError(f"lasso: alpha must be at least 0, got {self.alpha}")
        masks = np.asarray(masks, dtype=np.float64)
        # coordinate descent is deterministic with the default cyclic selection
        from sklearn.linear_model import Lasso

        model = Lasso(alpha=self.alpha, fit_intercept=True, max_iter=100000, tol=1e-10)
        return _linear_fit(model, masks, targets, sample_weights, np.arange(masks.shape[1]))


@attrs.frozen
class LinearSurrogate:
    """Plain weighted least squares with intercept (no regularization, no feature selection)."""

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> SurrogateFit:
        masks = np.asarray(masks, dtype=np.float64)
        from sklearn.linear_model import LinearRegression

        return _linear_fit(LinearRegression(fit_intercept=True), masks, targets, sample_weights, np.arange(masks.shape[1]))
