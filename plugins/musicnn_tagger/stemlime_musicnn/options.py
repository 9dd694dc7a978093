"""The options of the ``musicnn`` tagger, declared once (``stemlime plugins`` lists them from here; no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from stemlime.plugin import UsageError, compose_option, device_option, option, path_or_none, threads_option, whole_number

from .variants import DEFAULT_BATCH_SIZE, FRONTENDS, PRECISIONS

INPUT_SECONDS = 3.0  # one musicnn patch: 187 frames of 16 ms


def _batch_size(instance: Any, attribute: Any, value: Any) -> None:
    whole_number(value, "batch_size", minimum=1)


def _overlap(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < INPUT_SECONDS:
        raise UsageError(f"musicnn: overlap must be at least 0 and below {INPUT_SECONDS} s, got {value!r}")


@attrs.frozen
class MusicnnOptions:
    owner = "musicnn"
    device: str = device_option()
    batch_size: int = option(DEFAULT_BATCH_SIZE, "patches per network call", validator=_batch_size)
    precision: str = option(
        "fp32",
        "fp32, or bf16 (bfloat16 convolutions: 2.4x faster on a CPU with AMX, probabilities "
        "within ~1e-2 of fp32; ~30x slower on a CPU without native bfloat16)",
        choices=PRECISIONS,
    )
    overlap: float = option(0.0, "overlap of consecutive 3-s patches, in seconds", validator=_overlap)
    model_dir: Path | None = option(None, "folder with the checkpoint (.index, .data-*) instead of the cache", converter=path_or_none)
    fold: bool = option(
        True,
        "run the network with its batch norms folded into the convolutions (same outputs within "
        "1e-5, 2-3x faster on a CPU); false runs the layers as trained",
        converter=bool,
    )
    threads: int = threads_option("the network")
    frontend: str = option(
        "auto",
        "where predict computes the log-mel: numpy (exactly as musicnn), torch (on the "
        "network's device, within 1e-3), auto (numpy on a CPU, torch on a GPU)",
        choices=FRONTENDS,
    )
    compose: str = compose_option()
