"""The one table ``make bench`` prints: a row per measure, with its baseline from the same run.

Each bench section returns :class:`Row` values; :func:`render` lays them out as a Markdown table
(so that it can be pasted into a note as it is). Times are wall-clock seconds, the best of
several runs (the machine may be shared; the best run is the least disturbed one), with the
CPU seconds (user + system, all threads) of that run beside them: on a loaded machine the wall
time grows, the CPU time much less. A ratio is baseline / measure: above 1, stemlime is faster;
where both runs have their CPU seconds, their ratio follows in parentheses, the figure to trust
when the load average is high.
"""

from __future__ import annotations

import functools
import os
import resource
import time
from typing import Callable

import attrs


@attrs.define
class Row:
    """One measure. ``value`` and ``baseline`` in ``unit`` (lower is better unless
    ``higher_is_better``); ``reference`` is a documented figure of the original (not measured
    here) in the same unit; ``goal`` is the figure the issue asks for (same unit, met when the
    value reaches it)."""

    measure: str
    value: float | None
    unit: str = "s"
    cpu: float | None = None  # CPU seconds (user + system) of the measured run
    baseline: float | None = None
    baseline_what: str = ""
    baseline_cpu: float | None = None  # CPU seconds of the baseline's measured run
    reference: float | None = None
    reference_what: str = ""
    goal: float | None = None
    higher_is_better: bool = False
    note: str = ""
    text: str = ""  # shown instead of the formatted value (e.g. "512 samples, tau 0.96")


def timed(function: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process and its finished children, result) of one call."""
    start_cpu = _cpu()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, _cpu() - start_cpu, result


def best_timed(function: Callable[[], object], repeats: int = 3) -> tuple[float, float, object]:
    """The run with the least wall time of ``repeats``: (wall, CPU, result)."""
    return min((timed(function) for _ in range(repeats)), key=lambda run: run[0])


@functools.lru_cache(maxsize=None)
def matmul_peak_gflops(dtype: str = "float32") -> float:
    """This CPU's peak for dense products, measured now: the best of 5 products of two
    2048 x 2048 matrices (``float32`` or ``bfloat16``) on all cores with PyTorch, in GFLOP/s
    (a multiply-add counts 2). The ceiling that a network's achieved GFLOP/s is read against."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        a, b = (torch.randn(2048, 2048).to(getattr(torch, dtype)) for _ in range(2))
        torch.mm(a, b)
        best = min(timed(lambda: torch.mm(a, b))[0] for _ in range(5))
    finally:
        torch.set_num_threads(threads)
    return 2 * 2048**3 / best / 1e9


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else ""


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s" if value < 1 else f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    if unit in ("ms", "ms/patch", "ms/snippet"):
        return f"{value:.1f} {unit}"
    if unit == "x":
        return f"x{value:.1f}"
    return f"{value:g} {unit}".strip()


def _ratio(better: float, worse: float, higher_is_better: bool) -> str:
    if not better or not worse:
        return "-"
    ratio = better / worse if higher_is_better else worse / better
    return f"x{ratio:.2f}" if ratio < 1 else f"x{ratio:.1f}" if ratio < 100 else f"x{ratio:.0f}"


def _goal(row: Row) -> str:
    if row.goal is None or row.value is None:
        return ""
    met = row.value >= row.goal if row.higher_is_better else row.value <= row.goal
    return f"{_number(row.goal, row.unit)}: {'met' if met else 'NOT met'}"


def render(rows: list[Row]) -> str:
    """The Markdown table of ``rows``."""
    header = ["measure", "stemlime", "CPU", "baseline (same run)", "ratio", "original (documented)", "goal", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        value = row.text or ("-" if row.value is None else _number(row.value, row.unit))
        cpu = "" if row.cpu is None else f"{row.cpu:.2f} s"
        baseline = "" if row.baseline is None else f"{_number(row.baseline, row.unit)} ({row.baseline_what})"
        if row.baseline_cpu is not None:
            baseline = baseline.replace(" (", f", CPU {row.baseline_cpu:.2f} s (", 1)
        ratio = "" if row.baseline is None or row.value is None else _ratio(row.value, row.baseline, row.higher_is_better)
        if ratio and row.cpu and row.baseline_cpu:
            ratio += f" (CPU {_ratio(row.cpu, row.baseline_cpu, False)})"
        reference = ""
        if row.reference is not None:
            reference = f"{_number(row.reference, row.unit)} ({row.reference_what})"
            if row.value is not None:
                reference += f": {_ratio(row.value, row.reference, row.higher_is_better)}"
        cells = [row.measure, value, cpu, baseline, ratio, reference, _goal(row), row.note]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def skipped(measure: str, error: BaseException) -> Row:
    """The row of a section that could not run (a missing model must not hide the other numbers)."""
    return Row(measure, None, text="skipped", note=f"{type(error).__name__}: {error}"[:200])
