"""Speed of the musicnn tagger's network on the CPU: the trained layers against the folded network.

``run()`` returns the rows of ``make bench``'s table (:mod:`table`). Measured in the same run, on 3-s patches of the real
mixtures in tests/data/musicnn/ (MSD_musicnn, fp32 unless said):

- old: the trained layers (``tagger.network``: conv, ReLU, batch norm, max over frequency, as
  in the original), PyTorch's intra-op threads (2), batch 1 and its best batch;
- new: the folded network (``tagger.patch_probabilities``: batch norms folded into the
  convolutions, max-pool before the elementwise ops, one-core worker threads), batch 1 and its
  best batch, with the ratio old / new and the GFLOP/s achieved (2.85 GFLOP per patch);
- bf16: the folded network with ``precision=bf16``, its speed and its largest difference from
  fp32 on every patch and at ``predict`` on 32 snippets where the CPU has native bfloat16 (on
  8 patches where it is emulated, ~30x slower), and the trained layers' in bf16 for comparison;
- the GFLOP/s achieved, against this CPU's matmul peaks measured in the same run;
- end to end: ``predict`` on 32 three-second snippets (log-mel included), old and new.

Each configuration is timed in several rounds that alternate old and new, and the best round
counts: the machine is shared, and the best round is the least disturbed (``make bench`` prints
the load average). Takes about 40-60 s on 2 cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from table import Row, matmul_peak_gflops

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "musicnn"
GFLOP_PER_PATCH = 2.85  # MSD_musicnn, one 187 x 96 patch (multiply-adds count 2)
TF_MS_PER_SNIPPET = (27.0, 45.0)  # the TensorFlow original on this kind of machine (issue text)
THREADS = 2  # the cores of the reference machine
OLD_BATCHES = (1, 8, 32)
NEW_BATCHES = (1, 4, 8, 16, 32, 64)
ROUNDS = 3
GOAL_MS_PER_PATCH = 21.0  # the goal for the fp32 network on this CPU


def _real_patches(tagger) -> np.ndarray:
    """(60, 187, 96) log-mel patches of piece1 and piece2, starting every 15 frames (240 ms)."""
    import soundfile

    from stemlime_musicnn.frontend import cut_patches, log_mel

    pieces = []
    for name in ("piece1", "piece2"):
        audio, rate = soundfile.read(DATA / f"{name}_mixture_16k.wav", dtype="float32")
        assert rate == tagger.sample_rate
        pieces.append(cut_patches(log_mel(audio), 187, 15))
    return np.concatenate(pieces)


def _ms_per_patch(function, patches: np.ndarray, batch: int) -> float:
    """Wall-clock milliseconds per patch of ``function`` over ``patches`` in chunks of ``batch``."""
    count = max(8, batch) if batch < 32 else max(32, batch)
    start = time.perf_counter()
    for first in range(0, count, batch):
        function(patches[first : first + batch])
    return 1000 * (time.perf_counter() - start) / count


def run() -> list[Row]:
    title = "musicnn MSD_musicnn network on the CPU, 3-s patches of tests/data/musicnn"
    try:
        import torch
    except ImportError:
        return [Row(title, None, text="skipped", note="torch is not installed")]
    from stemlime import ModelFilesError, get_registry
    from stemlime_musicnn.folded import native_bfloat16

    registry = get_registry()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        tagger = registry.build("tagger", "musicnn:MSD_musicnn,device=cpu")
        try:
            trained = tagger.network
        except ModelFilesError:
            return [Row(title, None, text="skipped", note="model files missing: stemlime models fetch musicnn/MSD_musicnn")]
        patches = _real_patches(tagger)

        def old(chunk: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return trained(torch.from_numpy(chunk)).numpy()

        def new(chunk: np.ndarray) -> np.ndarray:
            tagger.batch_size = len(chunk)
            return tagger.patch_probabilities(chunk)

        exact, folded = old(patches[:16]), new(patches[:16])  # also warms both up
        best: dict[tuple[str, int], float] = {}
        for _ in range(ROUNDS):
            for batch in sorted(set(OLD_BATCHES) | set(NEW_BATCHES)):
                for name, function in (("old", old), ("new", new)):
                    if batch in (OLD_BATCHES if name == "old" else NEW_BATCHES):
                        ms = _ms_per_patch(function, patches, batch)
                        best[name, batch] = min(best.get((name, batch), float("inf")), ms)

        native = native_bfloat16()
        bf16_count = len(patches) if native else 8  # emulated bfloat16 is ~30x slower
        bf16 = registry.build("tagger", "musicnn:MSD_musicnn,device=cpu,precision=bf16,batch_size=8")
        bf16.patch_probabilities(patches[:1])  # warm-up
        bf16_ms = float("inf")
        for _ in range(ROUNDS if native else 1):
            start = time.perf_counter()
            half = bf16.patch_probabilities(patches[:bf16_count])
            bf16_ms = min(bf16_ms, 1000 * (time.perf_counter() - start) / bf16_count)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            trained_half = trained(torch.from_numpy(patches[:bf16_count])).float().numpy()
        reference = old(patches[:bf16_count])

        snippets = _real_snippets()
        bf16_snippets = np.abs(bf16.predict(snippets) - tagger.predict(snippets)).max() if native else None
        old_tagger = registry.build("tagger", "musicnn:MSD_musicnn,device=cpu,fold=false,batch_size=32")
        end_to_end = {}
        for name, end_tagger in (("old", old_tagger), ("new", registry.build("tagger", "musicnn:MSD_musicnn,device=cpu"))):
            end_tagger.predict(snippets[:2])
            start = time.perf_counter()
            end_tagger.predict(snippets)
            end_to_end[name] = 1000 * (time.perf_counter() - start) / len(snippets)
    finally:
        torch.set_num_threads(threads_before)

    old_1, new_1 = best["old", 1], best["new", 1]
    old_batch = min(OLD_BATCHES, key=lambda b: best["old", b])
    new_batch = min(NEW_BATCHES, key=lambda b: best["new", b])
    old_best, new_best = best["old", old_batch], best["new", new_batch]
    rate = lambda ms: GFLOP_PER_PATCH / ms * 1000  # noqa: E731
    peak, bf16_peak = matmul_peak_gflops("float32"), matmul_peak_gflops("bfloat16")
    workers = f"{tagger.threads} one-core workers; trained layers: {THREADS} PyTorch threads"
    bf16_note = (
        f"{rate(bf16_ms):.0f} GFLOP/s of the bf16 matmul peak {bf16_peak:.0f} (native bfloat16: oneDNN on the "
        f"workers); largest difference from fp32 {np.abs(half - reference).max():.1e} over {bf16_count} patches "
        f"(trained layers in bf16: {np.abs(trained_half - reference).max():.1e}), "
        f"{bf16_snippets:.1e} at predict on 32 snippets"
        if native
        else f"largest difference from fp32 {np.abs(half - reference).max():.1e} (trained layers in bf16: "
        f"{np.abs(trained_half - reference).max():.1e}), {bf16_count} patches; this CPU has no native bfloat16 "
        f"(emulated: {bf16_peak:.0f} GFLOP/s matmul peak)"
    )
    return [
        Row(
            f"musicnn fp32 network, best batch ({new_batch})",
            new_best,
            unit="ms/patch",
            baseline=old_best,
            baseline_what=f"trained layers, best batch {old_batch}",
            goal=GOAL_MS_PER_PATCH,
            note=f"{rate(new_best):.0f} GFLOP/s of this CPU's fp32 matmul peak {peak:.0f} (measured in this run; "
            f"{rate(old_best):.0f} before); by batch: " + ", ".join(f"{b}: {best['new', b]:.1f}" for b in NEW_BATCHES) + f" ms; {workers}",
        ),
        Row(
            "musicnn fp32 network, batch 1",
            new_1,
            unit="ms/patch",
            baseline=old_1,
            baseline_what="trained layers",
            note=f"{rate(new_1):.0f} GFLOP/s; folded vs trained outputs differ by {np.abs(folded - exact).max():.1e} (16 patches)",
        ),
        Row(
            "musicnn bf16 network (precision=bf16), batch 8",
            bf16_ms,
            unit="ms/patch",
            baseline=new_best,
            baseline_what="fp32, best batch",
            note=bf16_note,
        ),
        Row(
            "musicnn predict, 32 three-second snippets, log-mel included",
            end_to_end["new"],
            unit="ms/snippet",
            baseline=end_to_end["old"],
            baseline_what="trained layers",
            reference=TF_MS_PER_SNIPPET[0],
            reference_what=f"TensorFlow musicnn, {TF_MS_PER_SNIPPET[0]:.0f}-{TF_MS_PER_SNIPPET[1]:.0f}",
        ),
    ]


def _real_snippets() -> np.ndarray:
    """(32, 48000) three-second snippets of piece1 and piece2 at 16 kHz, starting every 0.5 s."""
    import soundfile

    audio = [soundfile.read(DATA / f"{name}_mixture_16k.wav", dtype="float32")[0] for name in ("piece1", "piece2")]
    return np.stack([piece[i * 8000 : i * 8000 + 48000] for piece in audio for i in range(14)] + [audio[0][:48000]] * 4)


if __name__ == "__main__":
    from table import render

    print(render(run()))
