"""`make bench`: speed of stemlime's pieces, each against a baseline measured in the same run.

Prints one table (:mod:`table`): a row per measure with its CPU seconds, the baseline measured
in the same run and the ratio (baseline / measure: above 1 means faster than the baseline), the
documented figures of the originals (audioLIME and TensorFlow: quoted, not measured here) and
the issue's goals. The load average before and after says how quiet the machine was.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
PIECE = ROOT / "tests" / "data" / "piece1_16k"


def bench_explainer() -> list:
    """One tagger run per distinct mask vs. one per sample (what audioLIME does)."""
    from stemlime import Pipeline, get_registry
    from engine_bench import every_sample
    from table import Row, best_timed, timed

    tagger = get_registry().build("tagger", "musicnn,device=cpu")
    pipeline = Pipeline(tagger=tagger)
    samples = 256
    explain = lambda: pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples=samples, seed=0, progress=False)
    explanation = explain()
    distinct, cpu, _ = best_timed(explain, 2)
    naive, naive_cpu, _ = timed(lambda: every_sample(tagger, explanation.neighbourhood.masks, explanation.component_audio))
    return [
        Row(
            f"explainer: musicnn + 5 oracle stems, {samples} samples ({explanation.distinct_evaluations} distinct masks)",
            distinct,
            cpu=cpu,
            baseline=naive,
            baseline_cpu=naive_cpu,
            baseline_what="every sample through the tagger",
        )
    ]


def main() -> int:
    from table import load_average, render, skipped

    sections = [importlib.import_module("musicnn_bench").run, bench_explainer, importlib.import_module("engine_bench").run]
    if importlib.util.find_spec("spleeter_bench") and importlib.util.find_spec("stemlime_spleeter"):
        sections.append(importlib.import_module("spleeter_bench").run)
        sections.append(importlib.import_module("stemgram_bench").run)
    if importlib.util.find_spec("stemlime_render"):
        sections.append(importlib.import_module("render_bench").run)
    if importlib.util.find_spec("stemlime_render") and importlib.util.find_spec("ray"):
        sections.append(importlib.import_module("dataset_bench").run)
    if importlib.util.find_spec("stemlime_cerberus") and importlib.util.find_spec("stemlime_render"):
        sections.append(importlib.import_module("cerberus_bench").run)
    before = load_average()
    rows, blocks = [], []  # speed measures go into the one table; a section may add a table of its own (quality)
    for section in sections:
        try:
            for item in section():
                (blocks if isinstance(item, str) else rows).append(item)
        except Exception as error:  # a missing model should not hide the other numbers
            rows.append(skipped(f"{section.__module__}.{section.__name__}", error))
        print(f"bench: {section.__module__}.{section.__name__} done", file=sys.stderr, flush=True)
    print(f"stemlime make bench, {os.cpu_count()} CPUs; {before} before, {load_average()} after")
    print(render(rows))
    if blocks:
        print("\n" + "\n".join(blocks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
