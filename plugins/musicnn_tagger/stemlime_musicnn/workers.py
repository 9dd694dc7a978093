"""musicnn's network split over the CPU worker threads of :mod:`stemlime.workers`.

A batch of at least as many patches as workers is split into one contiguous shard of patches
per worker; a smaller one (musicnn only) has its front end, ~95% of the work, split over the
frames instead.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

import torch

from stemlime.plugin import CpuWorkers, cpu_workers, per_thread_widths

from .folded import FoldedMusicnn

__all__ = ["CpuWorkers", "cpu_workers", "parallel_forward", "per_thread_widths"]


def _shards(total: int, parts: int) -> list[slice]:
    """``parts`` contiguous, nearly equal, non-empty slices of ``range(total)``."""
    parts = max(1, min(parts, total))
    bounds = [round(i * total / parts) for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def parallel_forward(
    network: torch.nn.Module,
    patches: torch.Tensor,
    workers: CpuWorkers,
    context: Callable[[], AbstractContextManager],
) -> torch.Tensor:
    """``network(patches)`` split over the workers, each task inside ``context()`` (inference
    mode and autocast are per thread). (B, T, 96) -> (B, n_labels).

    At least as many patches as workers: one contiguous shard of patches per worker. Fewer
    (musicnn only): the front end, ~95% of the work, is split over the frames instead, then one
    worker runs the mid and back end.
    """

    def task(function, *args):
        def run():
            with context():
                return function(*args)

        return run

    batch = patches.shape[0]
    if batch >= workers.count or not isinstance(network, FoldedMusicnn) or workers.count == 1:
        return torch.cat(workers.run([task(network, patches[shard]) for shard in _shards(batch, workers.count)]))
    [(x, dense)] = workers.run([task(network.prepare, patches)])
    frames = _shards(dense.shape[2], workers.count)
    workers.run([task(network.frontend, x, dense, slice(None), part) for part in frames])
    [probabilities] = workers.run([task(network.head, dense)])
    return probabilities
