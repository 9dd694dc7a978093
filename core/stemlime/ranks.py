"""Rank agreement of two weight vectors: Kendall's tau-b, in numpy.

``samples="auto"`` compares the ranking of all K components between sampling rounds, and the
stability check compares rankings between seeds; both use :func:`kendall_tau`. It counts the
pairs directly (K is at most a few hundred components) and ends in scipy's own expression, so
that it gives ``scipy.stats.kendalltau(a, b).statistic`` to the last bit without importing
scipy.stats (about half a second).
"""

from __future__ import annotations

import numpy as np

__all__ = ["kendall_tau"]


def kendall_tau(a, b) -> float:
    """Kendall's tau-b of ``a`` and ``b`` (equal-length 1-D): concordant minus discordant pairs
    over the geometric mean of the pairs not tied in each; NaN when one of them is constant
    (or they are empty), as scipy."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"kendall_tau needs two vectors of one length, got {a.shape} and {b.shape}")
    first, second = np.triu_indices(len(a), 1)
    sign_a, sign_b = np.sign(a[first] - a[second]), np.sign(b[first] - b[second])
    total = len(first)
    ties_a, ties_b = int(np.count_nonzero(sign_a == 0)), int(np.count_nonzero(sign_b == 0))
    if total == 0 or ties_a == total or ties_b == total or np.isnan(sign_a).any() or np.isnan(sign_b).any():
        return float("nan")
    concordant_minus_discordant = int(np.sum(sign_a * sign_b))
    tau = concordant_minus_discordant / np.sqrt(total - ties_a) / np.sqrt(total - ties_b)
    return float(np.minimum(1.0, max(-1.0, tau)))
