"""A shallow decision tree as surrogate, for users who want rules ("vocals on and drums off -> 0.73").

The tree is fitted on the masks with LIME's kernel weights. Its component weights are signed
average effects: for each neighbourhood mask, the tree's output with the component switched
on minus with it switched off, averaged with the kernel weights, so that weights read like a
linear surrogate's.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import UsageError
from ..declarations import option
from .fit import SurrogateFit


def _leaves(tree) -> tuple:
    """((conditions, value), ...) for every leaf, conditions ((component, switched on), ...)."""
    inner = tree.tree_
    leaves = []

    def walk(node: int, path: tuple) -> None:
        if inner.children_left[node] == -1:
            leaves.append((path, float(inner.value[node].ravel()[0])))
            return
        feature = int(inner.feature[node])
        walk(int(inner.children_left[node]), path + ((feature, False),))  # mask <= 0.5: off
        walk(int(inner.children_right[node]), path + ((feature, True),))

    walk(0, ())
    return tuple(leaves)


def describe_rules(rules: tuple, names: list[str]) -> list[str]:
    """The leaves as text, e.g. ``vocals on and drums off -> 0.7312``."""
    lines = []
    for conditions, value in rules:
        text = " and ".join(f"{names[i]} {'on' if on else 'off'}" for i, on in conditions) or "always"
        lines.append(f"{text} -> {value:.4f}")
    return lines


def _at_least_one(instance: Any, attribute: Any, value: Any) -> None:
    if value < 1:
        raise UsageError(f"tree: {attribute.name} must be at least 1, got {value}")


@attrs.frozen
class TreeSurrogate:
    """A weighted regression tree of depth ``max_depth`` (at most 2^depth rules)."""

    max_depth: int = option(3, "depth of the tree (at most 2^depth rules)", validator=_at_least_one)
    min_weight_fraction_leaf: float = option(0.0, "smallest share of the kernel weight in a rule")

    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> SurrogateFit:
        from sklearn.tree import DecisionTreeRegressor

        masks = np.asarray(masks, dtype=np.float64)
        # random_state fixes the tie-breaking between equally good splits: same input, same tree
        tree = DecisionTreeRegressor(max_depth=self.max_depth, min_weight_fraction_leaf=self.min_weight_fraction_leaf, random_state=0)
        tree.fit(masks, targets, sample_weight=sample_weights)
        score = tree.score(masks, targets, sample_weight=sample_weights)
        effects = np.zeros(masks.shape[1])
        for k in range(masks.shape[1]):
            on, off = masks.copy(), masks.copy()
            on[:, k], off[:, k] = 1.0, 0.0
            effects[k] = np.average(tree.predict(on) - tree.predict(off), weights=sample_weights)
        ones, zeros = np.ones((1, masks.shape[1])), np.zeros((1, masks.shape[1]))
        return SurrogateFit(
            effects,
            float(tree.predict(zeros)[0]),
            float(score),
            float(tree.predict(ones)[0]),
            np.arange(masks.shape[1]),
            _leaves(tree),
        )
