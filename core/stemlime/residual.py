"""How well stems add up to their mix: the residual in dB, and the ``rest`` stem that closes the gap.

When the stems do not add up to the mix, the all-ones mask plays something other than the
mix, and the part of the music that is in no stem is not explained at all.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import AudioError

RESIDUAL_WARNING_DB = 20.0  # below: warn. Lossy-coded stems of piece1 add up to 21-26 dB; a missing stem gives 7-14 dB


def stems_sum(mix: np.ndarray, stems: Mapping[str, np.ndarray]) -> np.ndarray:
    """The sum of the stems (float64, the mix's shape); zeros when there are none."""
    mix = np.asarray(mix)
    total = np.zeros(mix.shape, dtype=np.float64)
    for name, stem in stems.items():
        stem = np.asarray(stem)
        if stem.shape != mix.shape:
            raise AudioError(
                f"stem {name!r} has shape {stem.shape} but the mix has {mix.shape}: "
                "bring the stems to the mix's length first (stemlime.audio.fit_length)"
            )
        total += stem
    return total


def stems_residual_db(mix: np.ndarray, stems: Mapping[str, np.ndarray]) -> float:
    """How closely the stems add up to the mix, in dB: higher = they add up better.

    ``10 * log10(energy(mix) / energy(mix - sum(stems)))``, energies summed over all samples
    in float64. ``inf`` when the stems add up exactly; 0 dB when the difference is as loud as
    the mix (e.g. no stems); negative when it is louder (stems of another piece); ``-inf``
    for a silent mix with non-silent stems. 20 dB means the difference holds 1 % of the
    mix's energy. Stems must have the mix's shape.
    """
    mix64 = np.asarray(mix, dtype=np.float64)
    residual_energy = float(np.sum((mix64 - stems_sum(mix, stems)) ** 2))
    mix_energy = float(np.sum(mix64**2))
    if residual_energy == 0.0:
        return float("inf")
    if mix_energy == 0.0:
        return float("-inf")
    return float(10.0 * np.log10(mix_energy / residual_energy))


def rest_stem(mix: np.ndarray, stems: Mapping[str, np.ndarray]) -> np.ndarray:
    """``mix - sum(stems)`` as float32: the stem that makes the stems add up to the mix."""
    return (np.asarray(mix, dtype=np.float64) - stems_sum(mix, stems)).astype(np.float32)
