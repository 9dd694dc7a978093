"""Explanation speed at the user's scale: cold CLI, warm API, song-scale K = 50 and samples=auto.

Each measure is printed with a baseline measured in the same run and the ratio; audioLIME's
figures (TensorFlow, measured 2026-11-25 on this machine kind: cold 39.0 s, warm 29.9 s,
explain_instance alone 26.5 s) are quoted, not measured here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from musicnn_bench import GFLOP_PER_PATCH as MUSICNN_GFLOP_PER_PATCH

ROOT = Path(__file__).resolve().parents[1]
PIECE = ROOT / "tests" / "data" / "piece1_16k"
AUDIOLIME = {"cold": 39.0, "warm": 29.9, "explain_instance": 26.5}
CPU_GFLOPS = 149.0  # this machine kind's measured fp32 peak (issue text)


def _timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def every_sample(tagger, masks: np.ndarray, component_audio: np.ndarray) -> None:
    """The baseline: audioLIME's loop, batches of 10, every sample through the tagger."""
    from stemlime.components import compose

    for first in range(0, len(masks), 10):
        tagger.predict(compose(masks[first:first + 10], component_audio))


def cold_cli() -> list[str]:
    """`stemlime explain` in a new process: verified safetensors copies vs reading the TF checkpoints with every CRC."""
    from stemlime.models import model_path

    command = [str(Path(sys.executable).parent / "stemlime"), "explain", str(PIECE / "mixture.wav"), "--tagger", "musicnn",
               "--separator", "spleeter:2stems", "--start", "1", "--duration", "3", "--samples", "1000", "--seed", "0",
               "--quiet", "--no-progress", "--force"]
    spleeter, musicnn = model_path("spleeter/2stems"), model_path("musicnn/MSD_musicnn")
    with tempfile.TemporaryDirectory() as tmp:
        unverified = Path(tmp) / "models"
        (unverified / "2stems").mkdir(parents=True)
        for name in ("model.index", "model.data-00000-of-00001"):
            shutil.copy(spleeter / name, unverified / "2stems" / name)
        musicnn_dir = Path(tmp) / "musicnn"
        (musicnn_dir / "MSD_musicnn").mkdir(parents=True)
        for name in (".index", ".data-00000-of-00001"):
            shutil.copy(musicnn / name, musicnn_dir / "MSD_musicnn" / name)

        def run(extra_env: dict[str, str]) -> float:
            env = os.environ | {"STEMLIME_CACHE_DIR": tempfile.mkdtemp(dir=tmp)} | extra_env
            seconds, result = _timed(lambda: subprocess.run(command + ["--out", tempfile.mkdtemp(dir=tmp) + "/o"], env=env,
                                                            capture_output=True, text=True))
            if result.returncode != 0:
                raise RuntimeError(result.stderr)
            return seconds

        fast = min(run({}) for _ in range(2))
        slow = min(run({"MODEL_PATH": str(unverified), "STEMLIME_MUSICNN_DIR": str(musicnn_dir)}) for _ in range(2))
    return [f"cold CLI (musicnn + spleeter 2stems, 3-s excerpt, 1000 samples, empty stem cache):",
            f"  verified copies {fast:5.2f} s   checkpoints read with every CRC {slow:5.2f} s   x{slow / fast:.2f}   "
            f"audioLIME (documented) {AUDIOLIME['cold']:.1f} s: x{AUDIOLIME['cold'] / fast:.1f}"]


def warm_api() -> list[str]:
    """Models loaded: a song not seen before, then a further excerpt of it (stems from the cache)."""
    import stemlime
    from stemlime.stemcache import StemCache

    with tempfile.TemporaryDirectory() as tmp:
        pipeline = stemlime.Pipeline(tagger="musicnn", separator="spleeter:2stems", cache=StemCache(Path(tmp)))
        song = PIECE / "mixture.wav"
        pipeline.explain(song, start=0.5, duration=3.0, samples=1000, seed=0)  # load the models
        new_song = []
        for index in range(3):  # a "new song": the cache emptied, memory too
            pipeline.cache = StemCache(Path(tmp) / f"fresh{index}")
            seconds, explanation = _timed(lambda: pipeline.explain(song, start=1.0, duration=3.0, samples=1000, seed=0))
            new_song.append(seconds)
        further = min(_timed(lambda: pipeline.explain(song, start=0.25, duration=3.0, samples=1000, seed=0))[0] for _ in range(3))
        naive, _ = _timed(lambda: every_sample(pipeline.tagger, explanation.neighbourhood.masks, explanation.component_audio))
    best = min(new_song)
    return ["warm API (models loaded, musicnn + spleeter 2stems, 3-s excerpt, 1000 samples):",
            f"  song not seen before {best:5.3f} s   audioLIME (documented) {AUDIOLIME['warm']:.1f} s: x{AUDIOLIME['warm'] / best:.0f}",
            f"  further excerpt, stems cached {further:5.3f} s   audioLIME explain_instance (documented) "
            f"{AUDIOLIME['explain_instance']:.1f} s: x{AUDIOLIME['explain_instance'] / further:.0f}",
            f"  baseline measured here, every sample through the tagger: {naive:5.2f} s   x{naive / further:.0f}"]


def _long_stem_folder(folder: Path, seconds: float = 30.0) -> Path:
    """piece1_16k's stems repeated to ``seconds``: a 30-s song with five true stems."""
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    for path in PIECE.glob("*.wav"):
        audio, rate = soundfile.read(path, dtype="float32")
        repeated = np.tile(audio, int(np.ceil(seconds * rate / len(audio))))[: int(seconds * rate)]
        soundfile.write(folder / path.name, repeated, rate, subtype="FLOAT")
    return folder / "mixture.wav"


def song_scale(samples: int = 256) -> list[str]:
    """K = 50 (5 stems x 10 segments) over 30 s with musicnn: seconds per mask and GFLOP/s."""
    import importlib.util

    import stemlime

    if importlib.util.find_spec("stemlime_temporal") is None:
        return ["song scale: skipped (stemlime-temporal not installed)"]
    with tempfile.TemporaryDirectory() as tmp:
        mixture = _long_stem_folder(Path(tmp) / "song")
        pipeline = stemlime.Pipeline(tagger="musicnn", separator="oracle", segmenter="uniform,n=10")
        pipeline.explain(mixture, start=0.0, duration=30.0, samples=64, seed=1, labels=[0])  # load and warm up
        seconds, explanation = _timed(lambda: pipeline.explain(mixture, start=0.0, duration=30.0, samples=samples, seed=0))
    runs = explanation.distinct_evaluations
    patches = runs * 10
    gflops = patches * MUSICNN_GFLOP_PER_PATCH / seconds
    return [f"song scale: K = {len(explanation.components)} (5 stems x 10 segments), 30 s, musicnn MSD, {samples} samples:",
            f"  {seconds:6.1f} s = {1000 * seconds / patches:5.1f} ms per 3-s patch ({patches} patches), "
            f"{gflops:5.1f} GFLOP/s of this CPU's {CPU_GFLOPS:.0f}; 16384 samples (audioLIME's setting) would take about "
            f"{16384 * 10 * seconds / patches / 60:.0f} min on this CPU"]


def auto_savings() -> list[str]:
    """samples=auto vs fixed counts at equal stability, with a cheap tagger (the tagger's cost drops out)."""
    import stemlime
    from stemlime.checks import stability

    lines = ["samples=auto vs a fixed count (additive tagger with pairwise interactions; stability over 5 seeds):"]
    rng = np.random.default_rng(0)
    for k in (10, 50):
        components = rng.standard_normal((k, 400)).astype(np.float32)
        coefficients = rng.standard_normal(k) * np.exp(-np.arange(k) / 4)
        pairs = rng.standard_normal((k, k)) * 0.05

        class Additive:
            labels, sample_rate, input_seconds = ["y"], 16000, None

            def predict(self, batch):
                gains = np.linalg.lstsq(components.T.astype(np.float64), batch.T.astype(np.float64), rcond=None)[0].T.round(6)
                return (gains @ coefficients + np.einsum("bi,ij,bj->b", gains, pairs, gains))[:, None]

        class Fixed:
            sample_rate = None

            def separate(self, audio, rate):
                return {f"c{i}": components[i] for i in range(k)}

        pipeline = stemlime.Pipeline(tagger=Additive(), separator=Fixed(), cache=False)
        mix = components.sum(axis=0)
        auto = pipeline.explain(mix, sample_rate=16000, samples="auto", seed=0, labels="y")
        used = auto.sampling["samples"]
        fixed_count = 16384 if k == 50 else 1000
        fixed = pipeline.explain(mix, sample_rate=16000, samples=fixed_count, seed=0, labels="y")
        tau_auto = stability(pipeline, auto, seeds=5)["labels"]["y"]
        tau_fixed = stability(pipeline, fixed, seeds=5)["labels"]["y"]
        lines.append(f"  K = {k:2d}: auto stopped at {used:5d} samples (top-1 {tau_auto['top1']:.2f}, tau {tau_auto['kendall_tau']:.3f}); "
                     f"fixed {fixed_count:5d} (top-1 {tau_fixed['top1']:.2f}, tau {tau_fixed['kendall_tau']:.3f}): "
                     f"{fixed_count - used} samples saved (x{fixed_count / used:.1f})")
    return lines


def run() -> list[str]:
    lines = []
    for section in (cold_cli, warm_api, song_scale, auto_savings):
        try:
            lines += section()
        except Exception as error:
            lines.append(f"{section.__name__}: skipped ({type(error).__name__}: {error})")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
