"""Fidelity: does the explanation's order of components matter to the model?

Deletion: start from the whole excerpt and switch components off one by one in the
explanation's order (most positive weight first), recording the tagger's output after each
step. Insertion: start from nothing (the explainer's all-off signal) and switch them on in the
same order. The area over the perturbation curve (AOPC, Samek et al. 2017) averages the
change over the K + 1 points; a faithful order gives a larger AOPC than random orders.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..explanation import Explanation
from ..engine import Engine
from .common import check_seed, explanation_engine, explanation_weights, finite_or_none


def deletion_masks(order: np.ndarray) -> np.ndarray:
    """(K+1, K): row j has the first j components of ``order`` switched off."""
    masks = np.ones((len(order) + 1, len(order)), dtype=np.int64)
    for step, component in enumerate(order, start=1):
        masks[step:, component] = 0
    return masks


def insertion_masks(order: np.ndarray) -> np.ndarray:
    """(K+1, K): row j has only the first j components of ``order`` switched on."""
    return 1 - deletion_masks(order)


def deletion_aopc(curve: np.ndarray) -> float:
    """Mean drop below the unperturbed output: large when the first components removed matter most."""
    curve = np.asarray(curve, dtype=np.float64)
    return float(np.mean(curve[0] - curve))


def insertion_aopc(curve: np.ndarray) -> float:
    """Mean rise above the all-off output: large when the first components added matter most."""
    curve = np.asarray(curve, dtype=np.float64)
    return float(np.mean(curve - curve[0]))


def explanation_order(weights: np.ndarray) -> np.ndarray:
    """Components by signed weight, largest first (ties: component order)."""
    return np.argsort(-np.asarray(weights, dtype=np.float64), kind="stable")


def fidelity(
    pipeline: Any,
    explanation: Explanation,
    *,
    random_orders: int = 20,
    seed: int | None = None,
    batch_size: int | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Per label: the surrogate's weighted R^2 and the deletion/insertion curves with their AOPC,
    against the mean AOPC of ``random_orders`` random orders (drawn with ``seed``, default the
    explanation's). Tagger runs: only masks not already in the explanation's neighbourhood."""
    if random_orders < 1:
        raise UsageError(f"fidelity needs at least 1 random order for its baseline, got {random_orders}")
    engine = engine or explanation_engine(pipeline, explanation, batch_size)
    k = len(explanation.components)
    rng = np.random.default_rng(check_seed(explanation) if seed is None else seed)
    random = [rng.permutation(k) for _ in range(int(random_orders))]
    weights = explanation_weights(explanation)
    results = {}
    for row, (name, label) in enumerate(explanation.labels.items()):
        orders = [explanation_order(weights[row])] + random
        masks = np.concatenate([np.concatenate([deletion_masks(o), insertion_masks(o)]) for o in orders])
        curves = engine.outputs(masks)[:, label.index].reshape(len(orders), 2, k + 1)
        deletion = [deletion_aopc(c) for c in curves[:, 0]]
        insertion = [insertion_aopc(c) for c in curves[:, 1]]
        random_deletion, random_insertion = float(np.mean(deletion[1:])), float(np.mean(insertion[1:]))
        results[name] = {
            "r2": finite_or_none(label.score),
            "order": [explanation.components[i].name for i in orders[0]],
            "deletion": {"curve": curves[0, 0].tolist(), "aopc": deletion[0], "random_aopc": random_deletion},
            "insertion": {"curve": curves[0, 1].tolist(), "aopc": insertion[0], "random_aopc": random_insertion},
            "beats_random": bool(deletion[0] > random_deletion and insertion[0] > random_insertion),
        }
    return {"random_orders": int(random_orders), "labels": results}
