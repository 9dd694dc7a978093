"""Exact Shapley values and pairwise Shapley interaction indices from all 2^K masks.

A game over K players (components, stems) is given by ``values``: the output for every
coalition, indexed by the coalition's bit pattern (bit ``i`` set: player ``i`` is on), so
``values[0]`` is f(all off) and ``values[2**K - 1]`` f(all on). :func:`all_masks` gives the
(2^K x K) masks in that order, ready for ``Engine.outputs``.

    phi_i  = sum over S without i of |S|! (K-|S|-1)! / K! * (v(S+i) - v(S))
    I_ij   = sum over S without i, j of |S|! (K-|S|-2)! / (K-1)! * (v(S+ij) - v(S+i) - v(S+j) + v(S))

(Grabisch and Roubens' Shapley interaction index.) The values satisfy efficiency: they sum to
v(all) - v(none).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .errors import UsageError

MOST_EXACT = 10  # 2^10 masks: the most players computed exactly
INTERACTION_SHARE = 0.5  # a pair's interaction is "large" when at least this share of its larger main effect ...
INTERACTION_FLOOR = 0.01  # ... and at least this much in the output's own units


def all_masks(k: int) -> np.ndarray:
    """The (2^k x k) int64 masks of every coalition; row ``c`` has bit ``i`` of ``c`` in column ``i``."""
    k = int(k)
    if not 1 <= k <= MOST_EXACT:
        raise UsageError(f"exact Shapley values need 1 to {MOST_EXACT} components (2^K masks), got {k}")
    codes = np.arange(2**k, dtype=np.int64)
    return ((codes[:, None] >> np.arange(k, dtype=np.int64)[None, :]) & 1).astype(np.int64)


def _weights(k: int, size: np.ndarray, others: int) -> np.ndarray:
    """|S|! (k - |S| - others)! / (k - others + 1)!: the Shapley (others=1) or interaction (others=2) weight."""
    top = math.factorial(k - others + 1)
    return np.array([math.factorial(int(s)) * math.factorial(k - int(s) - others) / top for s in size])


def _values(values: np.ndarray, k: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] != 2**k:
        raise UsageError(f"{k} components need {2**k} coalition values, got {values.shape[0]}")
    return values


def shapley_values(values: np.ndarray, k: int) -> np.ndarray:
    """Exact Shapley values (k, ...) of the game ``values`` (2^k, ...): one per player, for each
    trailing index (e.g. label)."""
    values = _values(values, k)
    codes = np.arange(2**k)
    sizes = np.array([bin(c).count("1") for c in codes])
    out = np.zeros((k,) + values.shape[1:])
    for i in range(k):
        without = codes[(codes >> i) & 1 == 0]
        w = _weights(k, sizes[without], 1).reshape((-1,) + (1,) * (values.ndim - 1))
        out[i] = (w * (values[without | (1 << i)] - values[without])).sum(axis=0)
    return out


def interaction_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Pairwise Shapley interaction indices (k, k, ...) of the game ``values`` (2^k, ...):
    symmetric, zero on the diagonal. Positive: the pair adds more together than apart."""
    values = _values(values, k)
    codes = np.arange(2**k)
    sizes = np.array([bin(c).count("1") for c in codes])
    out = np.zeros((k, k) + values.shape[1:])
    for i in range(k):
        for j in range(i + 1, k):
            without = codes[((codes >> i) & 1 == 0) & ((codes >> j) & 1 == 0)]
            w = _weights(k, sizes[without], 2).reshape((-1,) + (1,) * (values.ndim - 1))
            delta = values[without | (1 << i) | (1 << j)] - values[without | (1 << i)] - values[without | (1 << j)] + values[without]
            out[i, j] = out[j, i] = (w * delta).sum(axis=0)
    return out


def alone(values: np.ndarray, k: int, players: tuple[int, ...]) -> np.ndarray:
    """v(only ``players`` on): e.g. ``alone(v, k, (i,))`` is the output with stem ``i`` alone."""
    code = sum(1 << int(p) for p in players)
    return _values(values, k)[code]


def notable_interactions(
    values: np.ndarray,
    interactions: np.ndarray,
    stems: Sequence[str],
    *,
    share: float = INTERACTION_SHARE,
    floor: float = INTERACTION_FLOOR,
) -> list[tuple[int, int, float]]:
    """The pairs (i, j, index) whose interaction index is large next to their main effects:
    |I_ij| >= ``share`` x max(|phi_i|, |phi_j|) and |I_ij| >= ``floor``; largest |I_ij| first.
    ``values``: (K,) Shapley values; ``interactions``: (K, K) interaction indices."""
    pairs = []
    for i in range(len(stems)):
        for j in range(i + 1, len(stems)):
            index = float(interactions[i, j])
            if abs(index) >= floor and abs(index) >= share * max(abs(values[i]), abs(values[j])):
                pairs.append((i, j, index))
    return sorted(pairs, key=lambda pair: -abs(pair[2]))


def together_sentence(stems: Sequence[str], i: int, j: int, games: np.ndarray, where: str = "") -> str:
    """'vocals and accompaniment act together: 0.018 and 0.105 alone, 0.367 with both' from the
    coalition outputs ``games`` (2^K,) of one label (bit i: stem i on; the others off)."""
    a, b, both = games[1 << i], games[1 << j], games[(1 << i) | (1 << j)]
    verb = "act together" if both - a - b + games[0] > 0 else "cancel each other"
    return f"{stems[i]} and {stems[j]} {verb}{where}: {a:.3f} and {b:.3f} alone, {both:.3f} with both"


__all__ = ["MOST_EXACT", "all_masks", "alone", "interaction_indices", "notable_interactions", "shapley_values", "together_sentence"]
