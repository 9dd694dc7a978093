"""The linear surrogates: LIME's ridge (with feature selection), lasso and plain least squares."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import UsageError
from .fit import SurrogateFit
from .lime import select_features


def _linear_fit(model: Any, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray, selected: np.ndarray) -> SurrogateFit:
    model.fit(masks[:, selected], targets, sample_weights)
    score = model.score(masks[:, selected], targets, sample_weights)
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

    def __attrs_post_init__(self) -> None:
        if self.num_features < 1:
            raise UsageError(f"ridge: num_features must be at least 1 (the most components the fit may use), got {self.num_features}")
        if not self.alpha >= 0:
            raise UsageError(f"ridge: alpha must be at least 0, got {self.alpha}")

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> SurrogateFit:
        masks = np.asarray(masks)
        selected = select_features(masks, targets, sample_weights, self.num_features, self.feature_selection)
        from .ridge import Ridge

        return _linear_fit(Ridge(alpha=self.alpha), masks, targets, sample_weights, selected)


@attrs.frozen
class LassoSurrogate:
    """Weighted Lasso(alpha) with intercept: a sparse explanation, small effects set to exactly 0.

    ``alpha`` multiplies the L1 penalty on the weights (scikit-learn's objective, in units of
    the tagger's probability); every component stays listed, the unused ones with weight 0.
    """

    alpha: float = 0.001

    def __attrs_post_init__(self) -> None:
        if not self.alpha >= 0:
            raise UsageError(f"lasso: alpha must be at least 0, got {self.alpha}")

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
