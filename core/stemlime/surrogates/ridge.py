"""LIME's weighted ridge regression and cosine distances without importing scikit-learn.

scikit-learn costs about a second to import (it pulls in scipy.stats and much more), and every
explanation needs the ridge fits and the mask distances; a ``stemlime explain`` is cold more
often than not. What LIME uses of scikit-learn here is small linear algebra, so it is written
out once more in the very operations that scikit-learn 1.9 performs, in the same order and on
arrays of the same shapes and layouts, so that the numbers are the same to the last bit
(``tests/test_ridge.py`` compares them with scikit-learn's on many neighbourhoods):

- :class:`Ridge`: ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)`` with sample
  weights, its ``"cholesky"`` solver, ``predict`` and ``score`` (the weighted R^2 of
  ``sklearn.metrics.r2_score``). Anything outside that case (``alpha == 0``, fewer samples
  than features, a singular system, non-finite input) goes to scikit-learn itself.
- :func:`cosine_distances`: ``sklearn.metrics.pairwise_distances(X, Y, metric="cosine")``.

Shapes: ``X`` (N samples x K features, 0/1 masks or any numbers), ``y`` (N,), sample weights (N,).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Ridge", "cosine_distances"]


def _as_float(array) -> np.ndarray:
    """What scikit-learn's check_array makes of an integer or float array: float64 (float32 kept)."""
    array = np.asarray(array)
    return array if array.dtype in (np.float64, np.float32) else array.astype(np.float64)


def cosine_distances(X, Y) -> np.ndarray:
    """(N, M) cosine distances ``1 - x.y / (|x| |y|)`` clipped to [0, 2], 1 for a zero row
    (scikit-learn's ``pairwise_distances(X, Y, metric="cosine")``, bit for bit)."""
    X, Y = _as_float(X), _as_float(Y)
    if X.dtype != Y.dtype:
        X, Y = X.astype(np.float64), Y.astype(np.float64)
    similarity = _normalized(X) @ _normalized(Y).T
    similarity *= -1
    similarity += 1
    return np.clip(similarity, 0.0, 2.0)


def _normalized(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; rows of (near) zero norm are left as they are."""
    X = X.copy()
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    X /= norms[:, None]
    return X


class Ridge:
    """Weighted ridge regression with intercept, the interface of scikit-learn's ``Ridge``
    (``fit``, ``predict``, ``score``, ``coef_``, ``intercept_``) and its numbers.

    Minimizes ``sum_i w_i (y_i - x_i . coef - intercept)^2 + alpha |coef|^2``: the data are
    centred on their weighted means, scaled by ``sqrt(w)``, and ``(X'X + alpha I) coef = X'y``
    is solved by Cholesky (LAPACK's ``posv`` through ``scipy.linalg.solve``).
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha
        self._fallback = None  # scikit-learn's Ridge, for the cases not written out here

    def fit(self, X, y, sample_weight) -> "Ridge":
        given = np.asarray(X), np.asarray(y), np.asarray(sample_weight)
        if not self._simple_case(*given):
            return self._fit_with_sklearn(*given)
        X = given[0].astype(np.float64)  # a copy (scikit-learn's copy_X)
        y = given[1].astype(np.float64)
        weights = given[2].astype(np.float64)
        X_offset = np.average(X, axis=0, weights=weights)
        X -= X_offset
        y_offset = np.average(y, axis=0, weights=weights)
        y -= y_offset
        root = np.sqrt(weights)
        X = X * root[:, None]
        y = y.reshape(-1, 1) * root[:, None]
        A = X.T @ X
        Xy = X.T @ y
        A.flat[:: X.shape[1] + 1] += np.asarray([self.alpha], dtype=np.float64)[0]
        from scipy import linalg

        try:
            coef = linalg.solve(A, Xy, assume_a="pos", overwrite_a=True).T
        except linalg.LinAlgError:  # singular: scikit-learn falls back to its SVD solver
            return self._fit_with_sklearn(*given)
        self.coef_ = coef.ravel() / np.ones(X.shape[1])
        self.intercept_ = y_offset - X_offset @ self.coef_
        self._fallback = None
        return self

    def _simple_case(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> bool:
        """Dense 2-D finite numbers, one float64 target, at least as many samples as features
        (and 2), alpha > 0 (a positive definite system): the case written out here."""
        shapes = (
            X.ndim == 2
            and y.ndim == 1
            and weights.ndim == 1
            and len(y) == len(X) == len(weights)
            and X.shape[0] >= max(2, X.shape[1])
            and X.shape[1] >= 1
        )
        types = (X.dtype.kind in "iub" or X.dtype == np.float64) and y.dtype == np.float64 and weights.dtype == np.float64
        return bool(
            shapes
            and types
            and float(self.alpha) > 0
            and np.isfinite(X).all()
            and np.isfinite(y).all()
            and np.isfinite(weights).all()
            and (weights >= 0).all()
        )

    def _fit_with_sklearn(self, X, y, weights) -> "Ridge":
        from sklearn.linear_model import Ridge as SklearnRidge

        fallback = SklearnRidge(alpha=self.alpha, fit_intercept=True).fit(X, y, sample_weight=weights)
        self._fallback = fallback
        self.coef_, self.intercept_ = fallback.coef_, fallback.intercept_
        return self

    def predict(self, X) -> np.ndarray:
        if self._fallback is not None:
            return self._fallback.predict(X)
        return np.asarray(X) @ self.coef_ + self.intercept_  # integer masks as they are, as scikit-learn does

    def score(self, X, y, sample_weight) -> float:
        """Weighted R^2 of the predictions for ``X`` against ``y`` (1 when both the residual and
        the spread of ``y`` are zero, 0 when only the spread is)."""
        if self._fallback is not None:
            return self._fallback.score(X, y, sample_weight=sample_weight)
        y_true = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        y_pred = self.predict(X).reshape(-1, 1)
        weights = np.asarray(sample_weight, dtype=np.float64)
        weight = weights[:, None]
        numerator = np.sum(weight * (y_true - y_pred) ** 2, axis=0)
        denominator = np.sum(weight * (y_true - np.average(y_true, axis=0, weights=weights)) ** 2, axis=0)
        scores = np.ones([1], dtype=numerator.dtype)
        valid = (denominator != 0) & (numerator != 0)
        scores[valid] = 1 - (numerator[valid] / denominator[valid])
        scores[(numerator != 0) & (denominator == 0)] = 0.0
        return float(np.average(scores))
