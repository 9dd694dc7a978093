"""The GPU checks of the speed issue, in one run on a lent device machine (``check.sh`` installs
and calls this; ``prepare.sh`` says how). Prints one table (:mod:`table`):

- fidelity of the device path: MSD_musicnn's taggram of tests/data/musicnn's two pieces on the
  device against TensorFlow's (the CPU port's tolerance is 1e-4), fp32 and bf16; ``predict`` on
  the device against the exact CPU path on 64 three-second snippets;
- throughput: ``predict`` on 3-s snippets of real audio (log-mel on the device included), by
  precision and network batch, in snippets per second (the issue's goal: >= 20,000/s in bf16
  on an H100), against the CPU's in the same run;
- the K = 50 explanation (5 true stems x 10 segments over 30 s, musicnn) on the device, with
  256 samples and with audioLIME's 16384.

``--device cpu --quick`` runs every step small on a CPU: a rehearsal of the script, not a
measurement.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
DATA = ROOT / "tests" / "data" / "musicnn"
GOAL_SNIPPETS_PER_SECOND = 20_000  # bf16, H100 (issue text)


def _pieces() -> list[np.ndarray]:
    import soundfile

    return [soundfile.read(DATA / f"{name}_mixture_16k.wav", dtype="float32")[0] for name in ("piece1", "piece2")]


def _snippets(count: int, seed: int = 0) -> np.ndarray:
    """(count, 48000) three-second snippets of the two real pieces at random offsets."""
    rng = np.random.default_rng(seed)
    pieces = _pieces()
    picks = [(rng.integers(2), rng.integers(0, 160000 - 48000)) for _ in range(count)]
    return np.stack([pieces[p][start:start + 48000] for p, start in picks])


def fidelity(device: str):
    from stemlime import get_registry
    from table import Row

    registry = get_registry()
    rows = []
    exact = registry.build("tagger", "musicnn:MSD_musicnn,device=cpu")
    snippets = _snippets(64, seed=1)
    reference_predict = exact.predict(snippets)
    for precision in ("fp32", "bf16"):
        tagger = registry.build("tagger", f"musicnn:MSD_musicnn,device={device},precision={precision}")
        taggram_error = max(
            float(np.abs(tagger.taggram(audio) - np.load(DATA / f"{name}_MSD_musicnn.npz")["taggram"]).max())
            for name, audio in zip(("piece1", "piece2"), _pieces()))
        predict_error = float(np.abs(tagger.predict(snippets) - reference_predict).max())
        rows.append(Row(f"musicnn MSD on {device}, {precision}: largest difference of the taggram from TensorFlow's",
                        taggram_error, unit="", text=f"{taggram_error:.1e}",
                        note=f"predict on 64 snippets vs the exact CPU path: {predict_error:.1e} "
                             f"(front end: {tagger.frontend}); CPU port's tolerance 1e-4"))
    return rows


def throughput(device: str, count: int, batches: tuple[int, ...]):
    from stemlime import get_registry
    from table import Row

    registry = get_registry()
    snippets = _snippets(count)
    rows, best = [], {}
    cpu = registry.build("tagger", "musicnn:MSD_musicnn,device=cpu")
    cpu.predict(snippets[:64])
    start = time.perf_counter()
    cpu.predict(snippets[:256])
    cpu_rate = 256 / (time.perf_counter() - start)
    for precision in ("fp32", "bf16"):
        for batch in batches:
            tagger = registry.build("tagger", f"musicnn:MSD_musicnn,device={device},precision={precision},batch_size={batch}")
            tagger.predict(snippets[:batch])  # warm-up: weights, cuDNN's algorithm choice
            seconds = float("inf")
            for _ in range(2):  # the better of two passes: the first may still be settling clocks
                start = time.perf_counter()
                for first in range(0, count, max(batch, 1024)):
                    tagger.predict(snippets[first:first + max(batch, 1024)])
                seconds = min(seconds, time.perf_counter() - start)
            best[precision, batch] = count / seconds
        top = max(batches, key=lambda b: best[precision, b])
        rows.append(Row(f"musicnn predict on {device}, {precision}, 3-s snippets, log-mel included", best[precision, top],
                        unit="snippets/s", higher_is_better=True, baseline=cpu_rate, baseline_what="CPU, this run",
                        goal=GOAL_SNIPPETS_PER_SECOND if precision == "bf16" else None,
                        note=f"front end: {tagger.frontend}; best network batch {top}; by batch: "
                             + ", ".join(f"{b}: {best[precision, b]:.0f}/s" for b in batches) + f"; {count} snippets"))
    return rows


def song_scale(device: str, sample_counts: tuple[int, ...]):
    import stemlime
    from engine_bench import _long_stem_folder
    from table import Row, timed

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mixture = _long_stem_folder(Path(tmp) / "song")
        for precision in ("fp32", "bf16"):
            pipeline = stemlime.Pipeline(tagger=f"musicnn,device={device},precision={precision},batch_size=1024",
                                         separator="oracle", segmenter="uniform,n=10")
            pipeline.explain(mixture, start=0.0, duration=30.0, samples=64, seed=1, labels=[0])  # load and warm up
            for samples in sample_counts:
                seconds, _, explanation = timed(lambda: pipeline.explain(mixture, start=0.0, duration=30.0, samples=samples,
                                                                         seed=0))
                patches = explanation.distinct_evaluations * 10
                rows.append(Row(f"K = 50 explanation on {device}, {precision}: 5 true stems x 10 segments, 30 s, "
                                f"musicnn MSD, {samples} samples", seconds,
                                note=f"{explanation.distinct_evaluations} distinct masks, {patches / seconds:.0f} patches/s"))
    return rows


def main(argv=None) -> int:
    from table import load_average, render

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes: a rehearsal of the script")
    args = parser.parse_args(argv)
    count, batches, samples = (256, (64, 256), (64,)) if args.quick else (8192, (256, 1024, 4096), (256, 16384))
    rows = []
    for section in (lambda: fidelity(args.device), lambda: throughput(args.device, count, batches),
                    lambda: song_scale(args.device, samples)):
        started = time.perf_counter()
        rows += section()
        print(f"check: a section done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"stemlime device check, {args.device}; {load_average()}")
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
