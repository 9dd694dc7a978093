"""`make bench`: speed of stemlime's pieces, each against a baseline measured in the same run.

Prints ratios (baseline time / measured time: above 1 means faster than the baseline).
Documented reference numbers of the TensorFlow originals are quoted, not measured here.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
PIECE = ROOT / "tests" / "data" / "piece1_16k"
TF_MUSICNN_MS_PER_SNIPPET = (27.0, 45.0)  # the TensorFlow original on this kind of machine (issue text)


def best_of(function, repeats: int = 3) -> float:
    """Best wall-clock seconds of several runs (the machine is shared; the best is the least disturbed)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_musicnn() -> list[str]:
    import torch

    from stemlime import get_registry

    torch.set_num_threads(2)
    audio, _ = soundfile.read(ROOT / "tests" / "data" / "musicnn" / "piece1_mixture_16k.wav", dtype="float32")
    snippets = np.stack([audio[i * 16000: i * 16000 + 48000] for i in range(7)] * 10)[:64]  # 64 real 3-s snippets
    lines = ["musicnn MSD_musicnn on CPU (2 threads), 3-s snippets:"]
    rates = {}
    outputs = {}
    for precision in ("fp32", "bf16"):
        for batch in (1, 64):
            tagger = get_registry().build("tagger", f"musicnn,device=cpu,precision={precision},batch_size={batch}")
            tagger.predict(snippets[:2])  # load weights, warm up
            count = 8 if batch == 1 else 64
            seconds = best_of(lambda: [tagger.predict(snippets[i:i + batch]) for i in range(0, count, batch)])
            rates[precision, batch] = count / seconds
            outputs[precision] = tagger.predict(snippets[:16])
    baseline = rates["fp32", 1]
    for (precision, batch), rate in rates.items():
        lines.append(f"  {precision} batch {batch:>2}: {rate:7.1f} snippets/s = {1000 / rate:6.1f} ms/snippet  "
                     f"(x{rate / baseline:.2f} vs fp32 batch 1)")
    lines.append(f"  bf16 max abs error vs fp32: {np.abs(outputs['bf16'] - outputs['fp32']).max():.2e}")
    fastest = max(rates["fp32", 1], rates["fp32", 64])
    lines.append(f"  TensorFlow original (documented, not measured here): {TF_MUSICNN_MS_PER_SNIPPET[0]:.0f}-"
                 f"{TF_MUSICNN_MS_PER_SNIPPET[1]:.0f} ms/snippet; fp32 here: {1000 / fastest:.1f} ms/snippet "
                 f"(x{TF_MUSICNN_MS_PER_SNIPPET[0] * fastest / 1000:.1f}-x{TF_MUSICNN_MS_PER_SNIPPET[1] * fastest / 1000:.1f})")
    return lines


def bench_explainer() -> list[str]:
    """One tagger run per distinct mask vs. one per sample (what audioLIME does)."""
    from stemlime import Pipeline, get_registry
    from stemlime.components import compose

    tagger = get_registry().build("tagger", "musicnn,device=cpu")
    pipeline = Pipeline(tagger=tagger)
    samples = 256
    explain = lambda: pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples=samples, seed=0, progress=False)
    explanation = explain()
    distinct = best_of(explain, repeats=2)

    def every_sample():  # the baseline: audioLIME's loop, batches of 10, every sample evaluated
        masks, audio = explanation.neighbourhood.masks, explanation.component_audio
        for first in range(0, len(masks), 10):
            tagger.predict(compose(masks[first:first + 10], audio))

    naive = best_of(every_sample, repeats=1)
    return [
        f"explainer, musicnn + 5 oracle stems, {samples} samples ({explanation.distinct_evaluations} distinct masks):",
        f"  once per distinct mask: {distinct:6.2f} s   every sample (audioLIME): {naive:6.2f} s   x{naive / distinct:.1f}",
    ]


def main() -> int:
    sections = [bench_musicnn, bench_explainer, importlib.import_module("engine_bench").run]
    if importlib.util.find_spec("musicnn_bench"):
        sections.insert(1, importlib.import_module("musicnn_bench").run)
    if importlib.util.find_spec("spleeter_bench") and importlib.util.find_spec("stemlime_spleeter"):
        sections.append(importlib.import_module("spleeter_bench").run)
    if importlib.util.find_spec("stemlime_render"):
        sections.append(importlib.import_module("render_bench").run)
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
