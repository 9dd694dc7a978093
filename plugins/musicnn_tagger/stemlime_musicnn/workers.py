"""CPU worker threads that each run PyTorch on one core, and the network split over them.

Why not PyTorch's own intra-op threads: every parallel operator ends at an OpenMP barrier, so
when anything else wants one of the cores (another process, numpy's BLAS thread, which spins
for ~0.1 s after each product, as after the explainer's ``masks @ components``) each operator
waits for the descheduled thread. On a busy 2-core machine 2 intra-op threads ran musicnn 4-5x
SLOWER than 1, spinning at barriers. Here each worker thread has ONE intra-op thread and its
own slice of the batch (or of the frames), so no operator waits for another core, and the GIL
is free while the kernels run. On an idle machine this is as fast as intra-op threading.

With ATen's OpenMP backend (Linux and Windows wheels) ``torch.set_num_threads`` sets the
calling thread's OpenMP and MKL widths, plus a process-wide default for threads that start
later: the workers set their own width to 1 and the caller's default is put back, so the rest
of the process is unaffected. Other backends share one pool, so there the network runs in the
calling thread (:func:`per_thread_widths`).
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Callable, Sequence, TypeVar

import torch

from .folded import FoldedMusicnn

T = TypeVar("T")


class CpuWorkers:
    """``count`` threads, each running PyTorch with one intra-op thread."""

    def __init__(self, count: int):
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.count = count
        caller_default = torch.get_num_threads()
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="stemlime-musicnn")
        started = threading.Barrier(count)
        for ready in [self._pool.submit(_one_intraop_thread, started) for _ in range(count)]:
            ready.result()  # the barrier makes each warm-up task start its own thread
        torch.set_num_threads(caller_default)  # the process-wide default, for threads started later

    def run(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Run the tasks on the workers; their results, in order (the first error is raised)."""
        return [future.result() for future in [self._pool.submit(task) for task in tasks]]


def _one_intraop_thread(started: threading.Barrier) -> None:
    torch.get_num_threads()  # PyTorch's lazy per-thread setup, which would undo the next line
    torch.set_num_threads(1)
    started.wait(timeout=60)


@functools.lru_cache(maxsize=1)
def per_thread_widths() -> bool:
    """Whether each thread has its own intra-op width (ATen's OpenMP backend), as the workers need."""
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


@functools.lru_cache(maxsize=None)
def _workers(count: int, pid: int) -> CpuWorkers:
    return CpuWorkers(count)


def cpu_workers(count: int) -> CpuWorkers:
    """The process's shared pool of ``count`` one-core workers (a new one after a fork)."""
    return _workers(int(count), os.getpid())


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
