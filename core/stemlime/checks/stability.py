"""Stability: would another random neighbourhood give the same explanation?

The explanation's components are explained again with ``seeds`` consecutive seeds (the
explanation's own first). For every pair of seeds we compare the weight vectors: do they agree
on the top component (top-1 agreement), and how similar are the rankings (Kendall tau,
Spearman rho)? Reported are the means over all pairs.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..errors import UsageError
from ..explanation import Explanation
from ..ranks import kendall_tau
from ..engine import Engine
from .common import check_seed, explanation_engine, finite_or_none, label_indices


def rank_correlation(a: np.ndarray, b: np.ndarray, method: str = "kendall") -> float:
    """Kendall tau-b or Spearman rho of two weight vectors; 1 for identical vectors, NaN when
    exactly one of them is constant (a ranking against no ranking)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if np.array_equal(a, b):
        return 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    if method == "kendall":
        return kendall_tau(a, b)
    from scipy.stats import spearmanr  # scipy.stats costs ~0.5 s to import: only when a check ranks

    return float(spearmanr(a, b).statistic)


def agreement(weights: np.ndarray) -> dict[str, float | None]:
    """Mean pairwise top-1 agreement, Kendall tau and Spearman rho of (S, K) weight vectors."""
    pairs = list(itertools.combinations(range(len(weights)), 2))
    if not pairs:
        raise UsageError("stability needs at least 2 seeds")
    top = np.argmax(weights, axis=1)
    return {
        "top1": float(np.mean([top[i] == top[j] for i, j in pairs])),
        "kendall_tau": finite_or_none(float(np.nanmean([rank_correlation(weights[i], weights[j]) for i, j in pairs]))),
        "spearman": finite_or_none(float(np.nanmean([rank_correlation(weights[i], weights[j], "spearman") for i, j in pairs]))),
    }


def seed_weights(engine: Engine, explanation: Explanation, samples: int | str, seeds: list[int]) -> np.ndarray:
    """(seeds, labels, K) weights of one explanation per seed."""
    indices = label_indices(explanation)
    return np.stack([engine.weights(samples, seed, indices) for seed in seeds])


def stability(
    pipeline: Any,
    explanation: Explanation,
    *,
    seeds: int = 5,
    samples: int | str | None = None,
    batch_size: int | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Per label: mean top-1 agreement, Kendall tau and Spearman rho over ``seeds`` seeds
    (``samples`` per explanation, default the explanation's)."""
    if seeds < 2:
        raise UsageError(f"stability needs at least 2 seeds, got {seeds}")
    engine = engine or explanation_engine(pipeline, explanation, batch_size)
    samples = explanation.samples if samples is None else samples
    seed_list = [check_seed(explanation) + i for i in range(int(seeds))]
    weights = seed_weights(engine, explanation, samples, seed_list)
    labels = {name: agreement(weights[:, row]) for row, name in enumerate(explanation.labels)}
    return {"seeds": seed_list, "samples": samples, "labels": labels}


def samples_for_stability(
    pipeline: Any,
    explanation: Explanation,
    target: float = 0.95,
    *,
    seeds: int = 5,
    first: int = 100,
    most: int = 12800,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """The smallest sample count, doubling from ``first`` up to ``most``, whose mean Kendall tau
    reaches ``target`` for every explained label; ``samples`` is None when none does."""
    if not -1.0 <= target <= 1.0:
        raise UsageError(f"the stability target is a Kendall tau between -1 and 1, got {target}")
    if first < 1 or most < first:
        raise UsageError(f"sample counts to try must satisfy 1 <= first <= most, got first={first}, most={most}")
    engine = explanation_engine(pipeline, explanation, batch_size)
    steps, found, samples = [], None, int(first)
    while samples <= most:
        result = stability(pipeline, explanation, seeds=seeds, samples=samples, engine=engine)
        taus = [label["kendall_tau"] for label in result["labels"].values()]
        worst = min((t for t in taus if t is not None), default=None)
        steps.append({"samples": samples, "kendall_tau": worst, "top1": min(label["top1"] for label in result["labels"].values())})
        if worst is not None and worst >= target:
            found = samples
            break
        samples *= 2
    return {"target": target, "seeds": int(seeds), "samples": found, "steps": steps, "tagger_evaluations": engine.evaluations}
