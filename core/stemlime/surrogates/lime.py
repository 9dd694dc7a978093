"""The LIME math of audioLIME: neighbourhood sampling, kernel, feature selection, local fit.

Everything here is numpy/scikit-learn on small matrices: ``masks`` is (N x K) of 0/1,
``targets`` (N,) the tagger's probability for one label, ``sample_weights`` (N,) the kernel
weights. Feature selection follows the ``lime`` package's ``LimeBase`` exactly.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import UsageError

MAX_EXHAUSTIVE_COMPONENTS = 16
FEATURE_SELECTIONS = ("auto", "none", "forward_selection", "highest_weights", "lasso_path")


def sample_masks(n_components: int, samples: int | str, seed: int | None) -> np.ndarray:
    """The neighbourhood: N masks over K components, the first one all ones.

    ``samples="exhaustive"`` gives all 2^K masks in audioLIME's order (all ones first, all
    zeros last). A count draws uniform 0/1 masks exactly as audioLIME does with
    ``random_state=seed`` (one throw-away draw, then ``randint(0, 2, N*K)``), so the same seed
    gives the same neighbourhood as the original.
    """
    if samples == "exhaustive":
        if n_components > MAX_EXHAUSTIVE_COMPONENTS:
            raise UsageError(
                f"samples='exhaustive' needs 2^{n_components} tagger runs for {n_components} components; "
                f"it is allowed up to {MAX_EXHAUSTIVE_COMPONENTS} components. Give a sample count instead (e.g. 1000)."
            )
        return np.array(list(itertools.product([1, 0], repeat=n_components)), dtype=np.int64)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise UsageError(f"samples must be a positive count or 'exhaustive', got {samples!r}")
    random_state = np.random.RandomState(seed)
    random_state.randint(0, high=1000)  # audioLIME draws its unused segmentation seed first
    masks = random_state.randint(0, 2, int(samples) * n_components).reshape(int(samples), n_components)
    masks[0, :] = 1
    return masks.astype(np.int64)


def cosine_distances_to_all_ones(masks: np.ndarray) -> np.ndarray:
    """Cosine distance of each mask to the unperturbed (first, all-ones) mask; 1 for the empty mask."""
    from .ridge import cosine_distances  # scikit-learn's numbers without importing it

    return cosine_distances(masks, masks[:1]).ravel()


def kernel(distances: np.ndarray, kernel_width: float = 0.25) -> np.ndarray:
    """LIME's exponential kernel as audioLIME uses it: ``sqrt(exp(-d^2 / w^2))``."""
    return np.sqrt(np.exp(-(distances**2) / kernel_width**2))


def _forward_selection(masks, targets, weights, num_features) -> np.ndarray:
    """Greedily add the feature whose plain least-squares fit has the best weighted R^2."""
    from sklearn.linear_model import Ridge

    chosen: list[int] = []
    model = Ridge(alpha=0, fit_intercept=True)
    for _ in range(min(num_features, masks.shape[1])):
        best, best_score = 0, -100000000
        for feature in range(masks.shape[1]):
            if feature in chosen:
                continue
            columns = chosen + [feature]
            model.fit(masks[:, columns], targets, sample_weight=weights)
            score = model.score(masks[:, columns], targets, sample_weight=weights)
            if score > best_score:
                best, best_score = feature, score
        chosen.append(best)
    return np.array(chosen)


def _highest_weights(masks, targets, weights, num_features) -> np.ndarray:
    """Features with the largest |coefficient x value at the explained instance|."""
    from .ridge import Ridge

    model = Ridge(alpha=0.01).fit(masks, targets, weights)
    contribution = model.coef_ * masks[0]
    order = sorted(range(masks.shape[1]), key=lambda i: np.abs(contribution[i]), reverse=True)
    return np.array(order[:num_features])


def _lasso_path(masks, targets, weights, num_features) -> np.ndarray:
    """Features active at the most complete point of the weighted lasso path with at most num_features."""
    from sklearn.linear_model import lars_path

    root = np.sqrt(weights)
    centred_masks = (masks - np.average(masks, axis=0, weights=weights)) * root[:, None]
    centred_targets = (targets - np.average(targets, weights=weights)) * root
    _, _, coefs = lars_path(centred_masks, centred_targets, method="lasso", verbose=False)
    active = np.arange(masks.shape[1])
    for step in range(coefs.shape[1] - 1, 0, -1):
        active = coefs[:, step].nonzero()[0]
        if len(active) <= num_features:
            break
    return active


def select_features(masks, targets, weights, num_features: int, method: str = "auto") -> np.ndarray:
    """Indices of the components the surrogate may use (LIME's feature selection)."""
    if method == "auto":
        method = "forward_selection" if num_features <= 6 else "highest_weights"
    if method == "none":
        return np.arange(masks.shape[1])
    selectors = {"forward_selection": _forward_selection, "highest_weights": _highest_weights, "lasso_path": _lasso_path}
    if method not in selectors:
        raise UsageError(f"unknown feature selection {method!r}; choose one of {', '.join(FEATURE_SELECTIONS)}")
    return selectors[method](masks, targets, weights, num_features)
