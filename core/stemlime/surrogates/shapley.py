"""Kernel SHAP (Lundberg & Lee 2017): Shapley values of the components from the Shapley kernel.

A coalition z (0/1 over K components) of size s = |z| gets the Shapley kernel weight

    pi(z) = (K - 1) / (C(K, s) * s * (K - s))        for 0 < s < K,

and infinite weight for the empty and the full coalition. The Shapley values phi are the
solution of the weighted least squares problem ``f(z) ~ f(none) + z . phi`` under the
constraints that the intercept is f(none) and ``sum(phi) = f(all) - f(none)`` (efficiency).
With all 2^K coalitions this is exact; with fewer it is the kernel SHAP estimate.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ..errors import UsageError
from .lime import MAX_EXHAUSTIVE_COMPONENTS, sample_masks
from .fit import SurrogateFit, weighted_r2


def shapley_kernel(coalition_sizes: np.ndarray, n_components: int) -> np.ndarray:
    """pi(z) for each coalition size; ``inf`` for the empty and full coalitions."""
    sizes = np.asarray(coalition_sizes, dtype=np.int64)
    weights = np.full(sizes.shape, np.inf)
    inner = (sizes > 0) & (sizes < n_components)
    s = sizes[inner]
    binomials = np.array([math.comb(n_components, int(k)) for k in s], dtype=np.float64)
    weights[inner] = (n_components - 1) / (binomials * s * (n_components - s))
    return weights


def shapley_masks(n_components: int, samples: int | str, seed: int | None) -> np.ndarray:
    """Coalitions for kernel SHAP: all 2^K when ``samples`` allows it (or is ``"exhaustive"``),
    else the full and empty coalitions plus ``samples - 2`` drawn ones.

    Drawn coalitions follow the Shapley kernel's size distribution (sizes near 1 and K-1 are
    the informative ones) and come in complementary pairs, which halves the estimate's variance
    for the same number of tagger runs.
    """
    if samples == "exhaustive" or (
        isinstance(samples, (int, np.integer)) and n_components <= MAX_EXHAUSTIVE_COMPONENTS and 2**n_components <= samples
    ):
        return sample_masks(n_components, "exhaustive", seed)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise UsageError(f"kernel_shap needs samples of at least 2 (the full and the empty coalition) or 'exhaustive', got {samples!r}")
    rows = [np.ones(n_components, np.int64), np.zeros(n_components, np.int64)]
    if n_components > 1:
        rng = np.random.default_rng(seed)
        sizes = np.arange(1, n_components)
        size_probability = (n_components - 1) / (sizes * (n_components - sizes))
        size_probability /= size_probability.sum()
        while len(rows) < samples:
            size = rng.choice(sizes, p=size_probability)
            mask = np.zeros(n_components, np.int64)
            mask[rng.permutation(n_components)[:size]] = 1
            rows.append(mask)
            if len(rows) < samples:
                rows.append(1 - mask)
    return np.stack(rows)


def _distinct(masks: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each coalition once, with the mean of its targets (equal anyway for a deterministic tagger)."""
    distinct, inverse = np.unique(masks, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    sums = np.bincount(inverse, weights=targets, minlength=len(distinct))
    return distinct, sums / np.bincount(inverse, minlength=len(distinct))


def shapley_values(masks: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(phi (K,), f(none), weighted R^2 of the additive model on the proper coalitions).

    ``masks`` must hold the empty and the full coalition; duplicates are merged.
    """
    masks = np.asarray(masks, dtype=np.int64)
    n_components = masks.shape[1]
    coalitions, values = _distinct(masks, np.asarray(targets, dtype=np.float64))
    sizes = coalitions.sum(axis=1)
    if not (np.any(sizes == 0) and np.any(sizes == n_components)):
        raise UsageError(
            "kernel_shap needs the empty and the full coalition among the masks; let the pipeline draw the "
            "neighbourhood (it asks the surrogate for its masks) or include both rows"
        )
    f_none = float(values[sizes == 0][0])
    f_all = float(values[sizes == n_components][0])
    total = f_all - f_none
    inner = (sizes > 0) & (sizes < n_components)
    if n_components == 1 or not np.any(inner):
        # only the endpoints are known: split the total evenly (exact for K = 1)
        return np.full(n_components, total / n_components), f_none, 1.0
    z = coalitions[inner].astype(np.float64)
    y = values[inner] - f_none
    pi = shapley_kernel(sizes[inner], n_components)
    # efficiency as a constraint: phi_last = total - sum(phi_rest), substituted into the fit
    design = z[:, :-1] - z[:, -1:]
    response = y - z[:, -1] * total
    root = np.sqrt(pi)
    rest, *_ = np.linalg.lstsq(design * root[:, None], response * root, rcond=None)
    phi = np.append(rest, total - rest.sum())
    score = weighted_r2(values[inner], f_none + z @ phi, pi)
    return phi, f_none, score


@attrs.frozen
class KernelShapSurrogate:
    """Shapley values of the components (kernel SHAP), exact when all 2^K coalitions are evaluated.

    The pipeline asks it for its masks (``sample_masks``): all 2^K coalitions when
    ``2^K <= samples``, else ``samples`` drawn ones. The weights add up to
    ``f(all) - f(none)`` exactly; ``intercept`` is f(none), the tagger's output with every
    component off; LIME's kernel weights are not used.
    """

    def sample_masks(self, n_components: int, samples: int | str, seed: int | None) -> np.ndarray:
        return shapley_masks(n_components, samples, seed)

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray | None = None) -> SurrogateFit:
        phi, f_none, score = shapley_values(masks, targets)
        return SurrogateFit(phi, f_none, score, float(f_none + phi.sum()), np.arange(len(phi)))
