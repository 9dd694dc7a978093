"""CPU worker threads that each run PyTorch on one core: what the torch plugins run their networks on.

Why not PyTorch's own intra-op threads: every parallel operator ends at an OpenMP barrier, so
when anything else wants one of the cores (another process, numpy's BLAS thread, which spins
for ~0.1 s after each product, as after the explainer's ``masks @ components``) each operator
waits for the descheduled thread. On a busy 2-core machine 2 intra-op threads ran musicnn 4-5x
SLOWER than 1, spinning at barriers. Here each worker thread has ONE intra-op thread and its
own share of the work (a slice of musicnn's batch, one of spleeter's stems), so no operator
waits for another core, and the GIL is free while the kernels run. On an idle machine this is
as fast as intra-op threading.

With ATen's OpenMP backend (Linux and Windows wheels) ``torch.set_num_threads`` sets the
calling thread's OpenMP and MKL widths, plus a process-wide default for threads that start
later: the workers set their own width to 1 and the caller's default is put back, so the rest
of the process is unaffected. Other backends share one pool, so there a plugin runs its network
in the calling thread (:func:`per_thread_widths`).

Each worker flushes denormal floats to zero (the FTZ and DAZ bits of its own thread), as
TensorFlow's compute threads do. x86 cores take a slow microcode path for every denormal
operand or result: musicnn's checkpoint holds 172,788 weights below 1e-20 in its first mid-end
layer (69% of it), whose products with the front end's outputs are denormal, and that one
layer took 39 ms per 4 patches instead of 2.6 ms (a third of the whole network's time). A
denormal is below 1.2e-38: flushing changes no result at float32's resolution.

The core does not depend on PyTorch: torch is imported when workers are made.

    workers = cpu_workers(torch.get_num_threads())   # one pool per process, shared by the plugins
    results = workers.run([task_1, task_2])          # each task runs with one intra-op thread

numpy's BLAS (OpenBLAS) has a thread pool of its own, whose threads spin for a while after each
product, waiting for the next: small products in stemlime's hot paths (the masks @ components
composition, musicnn's mel filter bank) ran 3x slower with two BLAS threads than with one on a
busy machine, and left the spinning threads in the way of the torch workers. They run inside
:func:`one_blas_thread` (the same numbers: the BLAS splits a product's rows and columns over
its threads, never the sums).
"""

from __future__ import annotations

import functools
import numbers
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")

__all__ = ["CpuWorkers", "cpu_workers", "one_blas_thread", "per_thread_widths", "torch_threads"]


class CpuWorkers:
    """``count`` threads, each running PyTorch with one intra-op thread."""

    def __init__(self, count: int):
        import torch

        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.count = count
        caller_default = torch.get_num_threads()
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="stemlime-torch")
        started = threading.Barrier(count)
        for ready in [self._pool.submit(_one_intraop_thread, started) for _ in range(count)]:
            ready.result()  # the barrier makes each warm-up task start its own thread
        torch.set_num_threads(caller_default)  # the process-wide default, for threads started later

    def run(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Run the tasks on the workers; their results, in order (the first error is raised)."""
        return [future.result() for future in [self._pool.submit(task) for task in tasks]]


def _one_intraop_thread(started: threading.Barrier) -> None:
    import torch

    torch.get_num_threads()  # PyTorch's lazy per-thread setup, which would undo the next line
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # this thread's FTZ/DAZ bits: see the module's docstring
    started.wait(timeout=60)


@functools.lru_cache(maxsize=1)
def per_thread_widths() -> bool:
    """Whether each thread has its own intra-op width (ATen's OpenMP backend), as the workers need."""
    import torch

    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


@functools.lru_cache(maxsize=None)
def _workers(count: int, pid: int) -> CpuWorkers:
    return CpuWorkers(count)


def cpu_workers(count: int) -> CpuWorkers:
    """The process's shared pool of ``count`` one-core workers (a new one after a fork)."""
    return _workers(int(count), os.getpid())


@functools.lru_cache(maxsize=1)
def _blas_threads(modules: int):
    """threadpoolctl's view of the BLAS libraries loaded now, made once per count of imported
    modules (about 10 ms): a library that an import loads later (scipy's own OpenBLAS) is
    found on the next call after that import."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """A context in which every BLAS loaded so far (numpy's, scipy's) runs its products in the
    calling thread only (about 20 us to enter); the thread counts are put back on exit."""
    controller = _blas_threads(len(sys.modules))
    return controller.limit(limits=1, user_api="blas")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``count`` inside the block and the caller's put back
    after it, however the block ends. For training loops, whose weights are bit for bit the same
    only for one thread count (one thread: on any machine). A count that is not a whole number
    >= 1 is a UsageError."""
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        from .errors import UsageError

        raise UsageError(f"threads must be a whole number >= 1, got {count!r}")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)
