"""`make bench`: speed of stemlime's pieces, each against a baseline measured in the same run.

Prints ratios (baseline time / measured time: above 1 means faster than the baseline).
Documented reference numbers of the TensorFlow originals are quoted, not measured here.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
PIECE = ROOT / "tests" / "data" / "piece1_16k"


def best_of(function, repeats: int = 3) -> float:
    """Best wall-clock seconds of several runs (the machine is shared; the best is the least disturbed)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_explainer() -> list[str]:
    """One tagger run per distinct mask vs. one per sample (what audioLIME does)."""
    from stemlime import Pipeline, get_registry
    from engine_bench import every_sample

    tagger = get_registry().build("tagger", "musicnn,device=cpu")
    pipeline = Pipeline(tagger=tagger)
    samples = 256
    explain = lambda: pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples=samples, seed=0, progress=False)
    explanation = explain()
    distinct = best_of(explain, repeats=2)

    naive = best_of(lambda: every_sample(tagger, explanation.neighbourhood.masks, explanation.component_audio), repeats=1)
    return [
        f"explainer, musicnn + 5 oracle stems, {samples} samples ({explanation.distinct_evaluations} distinct masks):",
        f"  once per distinct mask: {distinct:6.2f} s   every sample (audioLIME): {naive:6.2f} s   x{naive / distinct:.1f}",
    ]


def main() -> int:
    sections = [importlib.import_module("musicnn_bench").run, bench_explainer, importlib.import_module("engine_bench").run]
    if importlib.util.find_spec("spleeter_bench") and importlib.util.find_spec("stemlime_spleeter"):
        sections.append(importlib.import_module("spleeter_bench").run)
    if importlib.util.find_spec("stemlime_render"):
        sections.append(importlib.import_module("render_bench").run)
    if importlib.util.find_spec("stemlime_render") and importlib.util.find_spec("ray"):
        sections.append(importlib.import_module("dataset_bench").run)
    if importlib.util.find_spec("stemlime_cerberus") and importlib.util.find_spec("stemlime_render"):
        sections.append(importlib.import_module("cerberus_bench").run)
    for section in sections:
        try:
            lines = section()
        except Exception as error:  # a missing model should not hide the other numbers
            lines = [f"{section.__name__}: skipped ({type(error).__name__}: {error})"]
        print("\n".join(lines), flush=True)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
