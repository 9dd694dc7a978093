"""What a surrogate returns, and LIME's ridge surrogate."""

from __future__ import annotations

import attrs
import numpy as np
from sklearn.linear_model import Ridge

from .lime import select_features


@attrs.frozen(eq=False)
class SurrogateFit:
    """A local model fitted on (masks, tagger outputs, kernel weights) for one label.

    ``weights`` has one entry per component (0 for components the feature selection left
    out); ``selected`` lists the components the model used, in selection order.
    """

    weights: np.ndarray
    intercept: float
    score: float  # weighted R^2 on the neighbourhood
    local_prediction: float  # the surrogate's output for the all-ones mask
    selected: np.ndarray


@attrs.frozen
class RidgeSurrogate:
    """LIME's default: feature selection, then Ridge(alpha) with intercept, weighted by the kernel."""

    alpha: float = 1.0
    feature_selection: str = "auto"
    num_features: int = 100000  # LIME's "all"

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> SurrogateFit:
        masks = np.asarray(masks)
        selected = select_features(masks, targets, sample_weights, self.num_features, self.feature_selection)
        model = Ridge(alpha=self.alpha, fit_intercept=True)
        model.fit(masks[:, selected], targets, sample_weight=sample_weights)
        score = model.score(masks[:, selected], targets, sample_weight=sample_weights)
        local = model.predict(masks[:1, selected])[0]
        weights = np.zeros(masks.shape[1])
        weights[selected] = model.coef_
        return SurrogateFit(weights, float(model.intercept_), float(score), float(local), np.asarray(selected))
