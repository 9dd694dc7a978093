"""The linear surrogates: LIME's ridge (with feature selection), lasso and plain least squares."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import UsageError
from ..declarations import OPTION_METADATA, option
from .fit import SurrogateFit
from .lime import FEATURE_SELECTIONS, select_features


def _linear_fit(model: Any, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray, selected: np.ndarray) -> SurrogateFit:
    model.fit(masks[:, selected], targets, sample_weights)
    score = model.score(masks[:, selected], targets, sample_weights)
    local = model.predict(masks[:1, selected])[0]
    weights = np.zeros(masks.shape[1])
    weights[selected] = model.coef_
    return SurrogateFit(weights, float(model.intercept_), float(score), float(local), np.asarray(selected))


def _at_least_zero(instance: Any, attribute: Any, value: Any) -> None:
    if not value >= 0:
        raise UsageError(f"{instance.owner}: {attribute.name} must be at least 0, got {value}")


def _at_least_one(instance: Any, attribute: Any, value: Any) -> None:
    if value < 1:
        raise UsageError(f"{instance.owner}: {attribute.name} must be at least 1 ({attribute.metadata[OPTION_METADATA][0]}), got {value}")


@attrs.frozen
class RidgeSurrogate:
    """LIME's default: feature selection, then Ridge(alpha) with intercept, weighted by the kernel."""

    owner = "ridge"
    alpha: float = option(1.0, "Ridge regularization strength", validator=_at_least_zero)
    feature_selection: str = option("auto", "how components are chosen before the fit", choices=FEATURE_SELECTIONS)
    num_features: int = option(
        100000,
        "the most components the fit may use (default: all)",  # LIME's "all"
        validator=_at_least_one,
    )

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

    owner = "lasso"
    alpha: float = option(0.001, "L1 penalty on the weights (in units of the tagger's probability)", validator=_at_least_zero)

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> SurrogateFit:
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
