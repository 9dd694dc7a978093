"""The options of the ``demucs`` separator, declared once (``stemlime plugins`` lists them from here; no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from stemlime.plugin import UsageError, device_option, option, path_or_none


def _shifts(instance: Any, attribute: Any, shifts: Any) -> None:
    if isinstance(shifts, bool) or not isinstance(shifts, int) or not 0 <= shifts <= 20:
        raise UsageError(f"demucs: shifts must be a whole number from 0 to 20, got {shifts!r}")


def _overlap(instance: Any, attribute: Any, overlap: float) -> None:
    if not 0 <= overlap < 1:
        raise UsageError(f"demucs: overlap is a fraction of a segment, at least 0 and below 1, got {overlap}")


@attrs.frozen
class DemucsOptions:
    owner = "demucs"
    device: str = device_option()
    model_dir: Path | None = option(
        None,
        "folder with the variant's files: NAME.yaml and SIG.safetensors (its Hugging Face "
        "repository), or demucs's SIG-CHECKSUM.th downloads (default: the Hugging Face "
        "hub and cache)",
        converter=path_or_none,
    )
    shifts: int = option(1, "random time shifts averaged (demucs's --shifts; seeded, so repeatable)", validator=_shifts)
    overlap: float = option(0.25, "overlap of consecutive segments, as a fraction (demucs's --overlap)", validator=_overlap)
    rest: bool = option(False, "add a stem 'rest' = mix - sum of the stems, so that they add up to the mix", converter=bool)
    seed: int = option(0, "seed of the random shifts")
