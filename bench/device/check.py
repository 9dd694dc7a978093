"""The GPU checks of the speed issue, in one run on a lent device machine (``check.sh`` installs
and calls this; ``prepare.sh`` says how). Prints one table (:mod:`table`):

- fidelity of the device path: MSD_musicnn's taggram of tests/data/musicnn's two pieces on the
  device against TensorFlow's (the CPU port's tolerance is 1e-4), fp32 and bf16; ``predict`` on
  the device against the exact CPU path on 64 three-second snippets;
- throughput: ``predict`` on 3-s snippets of real audio (log-mel on the device included), by
  precision and network batch, in snippets per second (the issue's goal: >= 20,000/s in bf16
  on an H100), against the CPU's in the same run;
- the K = 50 explanation (5 true stems x 10 segments over 30 s, musicnn) on the device, with
  256 samples and with audioLIME's 16384, the perturbations mixed on the device (the default
  there) and, for comparison, on the host;
- separation on the device against the CPU's output, timed: spleeter 2stems and a Cerberus
  network over a 3-minute song, Cerberus training steps per second (a 4-epoch training on the
  rendered pieces in .device/cerberus-data), and Demucs (a random-weight HTDemucs, as the tests
  build it);
- the stemgram (#26) of the 3-minute song with 5 stems (spleeter 5stems with random weights,
  32 masks a frame) and musicnn, on the device, against the song's taggram there;
- the Cerberus GPU recipe (#27, ``--sections recipe``, a call of its own): the build that
  ``stemlime models build cerberus/pno-gtr-bss-drm --device cuda`` runs (stemlime_cerberus.recipe
  GPU_PLANS: render, train, install), stopped after ``--recipe-seconds`` if it has not ended by
  then: render time, training steps per second, the whole build's time (measured, or projected
  from those), and the best model's SI-SDR on the bench's unseen pieces against the ideal PSM
  (the goal: within 1 dB). Rendering needs FluidSynth, which check.sh sets up from the Debian
  libraries that prepare.sh carries.

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
GOAL_SNIPPETS_PER_SECOND = {"fp32": 20_000, "bf16": 50_000}  # H200 (issue #24)
GOAL_K50_SECONDS = {256: 0.3, 16384: 5.0}  # bf16, the perturbations mixed on the device (issue #24)
SONG_SECONDS = 180.0  # the separation rows' song: 3 minutes
RECIPE_SECONDS = 200.0  # the recipe section's build stops after this: the call and a rerun fit a 15-minute lease
GOAL_RECIPE_SECONDS = 900.0  # the GPU recipe's build on an H100/H200 (issue #27)
GOAL_RECIPE_GAP_DB = 1.0  # ... within this of the ideal PSM, every instrument
QUALITY_PIECES = 60  # the bench's first pieces (it scores 600 on the CPU): 60 leave this call's minutes to the training
SECTIONS = ("fidelity", "throughput", "song", "separation", "stemgram", "recipe")
DEFAULT_SECTIONS = SECTIONS[:-1]  # the recipe section is a call of its own (see RECIPE_SECONDS)


def _pieces() -> list[np.ndarray]:
    import soundfile

    return [soundfile.read(DATA / f"{name}_mixture_16k.wav", dtype="float32")[0] for name in ("piece1", "piece2")]


def _snippets(count: int, seed: int = 0) -> np.ndarray:
    """(count, 48000) three-second snippets of the two real pieces at random offsets."""
    rng = np.random.default_rng(seed)
    pieces = _pieces()
    picks = [(rng.integers(2), rng.integers(0, 160000 - 48000)) for _ in range(count)]
    return np.stack([pieces[p][start : start + 48000] for p, start in picks])


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
            for name, audio in zip(("piece1", "piece2"), _pieces())
        )
        predict_error = float(np.abs(tagger.predict(snippets) - reference_predict).max())
        rows.append(
            Row(
                f"musicnn MSD on {device}, {precision}: largest difference of the taggram from TensorFlow's",
                taggram_error,
                unit="",
                text=f"{taggram_error:.1e}",
                note=f"predict on 64 snippets vs the exact CPU path: {predict_error:.1e} "
                f"(front end: {tagger.frontend}); CPU port's tolerance 1e-4",
            )
        )
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
    # the front end as matrix products (the default on a GPU), and bf16 with the convolution for comparison
    for precision, gemm in (("fp32", None), ("bf16", None), ("bf16", False)):
        for batch in batches:
            tagger = registry.build("tagger", f"musicnn:MSD_musicnn,device={device},precision={precision},batch_size={batch}")
            if gemm is not None:
                for bank in tagger.fast_network.filters:
                    bank.gemm = gemm
            tagger.predict(snippets[:batch])  # warm-up: weights, cuDNN's algorithm choice
            seconds = float("inf")
            for _ in range(2):  # the better of two passes: the first may still be settling clocks
                start = time.perf_counter()
                for first in range(0, count, max(batch, 1024)):
                    tagger.predict(snippets[first : first + max(batch, 1024)])
                seconds = min(seconds, time.perf_counter() - start)
            best[precision, gemm, batch] = count / seconds
        top = max(batches, key=lambda b: best[precision, gemm, b])
        formulation = "convolution" if gemm is False else ("matrix products" if device != "cpu" else "convolution (CPU)")
        rows.append(
            Row(
                f"musicnn predict on {device}, {precision}, front end as {formulation}, 3-s snippets, log-mel included",
                best[precision, gemm, top],
                unit="snippets/s",
                higher_is_better=True,
                baseline=cpu_rate,
                baseline_what="CPU, this run",
                goal=GOAL_SNIPPETS_PER_SECOND[precision] if gemm is None else None,
                note=f"front end: {tagger.frontend}; best network batch {top}; by batch: "
                + ", ".join(f"{b}: {best[precision, gemm, b]:.0f}/s" for b in batches)
                + f"; {count} snippets",
            )
        )
    return rows


def song_scale(device: str, sample_counts: tuple[int, ...]):
    import stemlime
    from engine_bench import _long_stem_folder
    from table import Row, timed

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mixture = _long_stem_folder(Path(tmp) / "song")
        cases = [(precision, "auto", samples) for precision in ("fp32", "bf16") for samples in sample_counts]
        cases.append(("bf16", "host", sample_counts[0]))  # the engine mixing on the host, for comparison
        for precision, compose, samples in cases:
            pipeline = stemlime.Pipeline(
                tagger=f"musicnn,device={device},precision={precision},batch_size=1024,compose={compose}",
                separator="oracle",
                segmenter="uniform,n=10",
            )
            pipeline.explain(mixture, start=0.0, duration=30.0, samples=64, seed=1, labels=[0])  # load and warm up
            seconds, _, explanation = timed(lambda: pipeline.explain(mixture, start=0.0, duration=30.0, samples=samples, seed=0))
            patches = explanation.distinct_evaluations * 10
            where = pipeline.tagger.compose
            rows.append(
                Row(
                    f"K = 50 explanation on {device}, {precision}, mixed on the {where}: 5 true stems x 10 "
                    f"segments, 30 s, musicnn MSD, {samples} samples",
                    seconds,
                    goal=GOAL_K50_SECONDS.get(samples) if (precision, compose) == ("bf16", "auto") else None,
                    note=f"{explanation.distinct_evaluations} distinct masks, {patches / seconds:.0f} patches/s",
                )
            )
    return rows


def _song(seconds: float) -> tuple[np.ndarray, int]:
    """The two real pieces repeated to ``seconds`` (16 kHz mono)."""
    pieces = np.concatenate(_pieces())
    return np.tile(pieces, int(np.ceil(seconds * 16000 / len(pieces))))[: int(seconds * 16000)], 16000


def _compare(name: str, build, audio: np.ndarray, rate: int, device: str):
    """Separate ``audio`` with ``build(device)`` and ``build("cpu")``: a row of the device's
    seconds against the CPU's, with the largest difference of the stems."""
    from table import Row, timed

    on_device, on_cpu = build(device), build("cpu")
    on_device.separate(audio[: rate * 10], rate)  # warm up: weights, kernels
    seconds, _, stems = timed(lambda: on_device.separate(audio, rate))
    cpu_seconds, _, reference = timed(lambda: on_cpu.separate(audio, rate))
    error = max(float(np.abs(stems[k] - reference[k]).max()) for k in reference)
    scale = max(float(np.abs(reference[k]).max()) for k in reference)
    return Row(
        f"{name} on {device}, {len(audio) / rate:.0f}-s song",
        seconds,
        baseline=cpu_seconds,
        baseline_what="CPU, this run",
        note=f"largest difference of the stems from the CPU's: {error:.1e} (stems up to {scale:.2f})",
    )


def separation(device: str, seconds: float):
    import importlib.util

    from table import Row

    audio, rate = _song(seconds)
    rows = [
        _compare(
            "spleeter 2stems (random weights: its 78 MB checkpoint exceeds what a call carries)", _random_spleeter, audio, rate, device
        )
    ]
    data = ROOT / ".device" / "cerberus-data"
    if importlib.util.find_spec("stemlime_cerberus") is not None and data.is_dir():
        rows += _cerberus(device, data, audio, rate)
    else:
        rows.append(Row("Cerberus on the device", None, text="skipped", note=f"stemlime-cerberus or {data} missing"))
    if importlib.util.find_spec("stemlime_demucs") is not None and importlib.util.find_spec("demucs") is not None:
        rows.append(_demucs(device, audio[: rate * 30], rate))
    else:
        rows.append(Row("Demucs on the device", None, text="skipped", note="stemlime-demucs or demucs missing"))
    return rows


def _random_spleeter(device: str):
    from stemgram_bench import random_spleeter

    return random_spleeter("2stems", device)


def stemgram(device: str, seconds: float):
    """The stemgram of a song with 5 stems (spleeter 5stems, random weights) and musicnn, both on
    ``device``: every frame's 32 stem masks through the engine, mixed on the device."""
    from stemgram_bench import random_spleeter, song_file, stemgram_row

    with tempfile.TemporaryDirectory() as folder:
        tagger = f"musicnn,device={device},batch_size=1024"
        return [
            stemgram_row(
                f"on {device}: spleeter 5stems (random weights)",
                tagger,
                random_spleeter("5stems", device),
                song_file(Path(folder), seconds),
            )
        ]


def _cerberus(device: str, data: Path, audio: np.ndarray, rate: int):
    """Cerberus training steps/s (4 epochs on the rendered pieces: device and CPU in float32, the
    device in bfloat16) and separation with the trained network, device against CPU."""
    from stemlime_cerberus import CerberusSeparator, train
    from table import Row

    settings = dict(instruments="piano,guitar,bass,drums", batch_size=8, chunk_seconds=2.0, epochs=4, seed=0)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for where, folder, precision in ((device, "device", "float32"), ("cpu", "cpu", "float32"), (device, "bfloat16", "bfloat16")):
            steps = []
            started = time.perf_counter()
            train(
                [data],
                Path(tmp) / folder,
                device=where,
                progress=False,
                score_transcription=False,
                on_step=lambda step: steps.append(time.perf_counter()),
                threads=None,
                precision=precision,
                **settings,
            )
            rates[folder] = (len(steps) - 1) / (steps[-1] - steps[0]) if len(steps) > 1 else float("nan")
            print(f"check: cerberus training on {where} in {precision}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        what = f"default network, batch 8 x 2 s, {len(steps)} steps"
        compared = (  # (label, rate, against, its name)
            (f"on {device} ({what})", "device", "cpu", "CPU, this run"),
            (f"on {device} in bfloat16 ({what}; --precision bfloat16)", "bfloat16", "device", f"float32 on {device}, this run"),
        )
        rows = [
            Row(f"Cerberus training {label}", rates[key], unit="steps/s", higher_is_better=True, baseline=rates[base], baseline_what=name)
            for label, key, base, name in compared
        ]
        model = Path(tmp) / "device"
        separated = _compare(
            "Cerberus separation (the network just trained)", lambda d: CerberusSeparator(model_dir=model, device=d), audio, rate, device
        )
    return [*rows, separated]


class _OutOfTime(Exception):
    """Raised from the trainer's on_step when the recipe section's time is up: the trainer saves
    its checkpoint and stops."""


def recipe(device: str, quick: bool, budget: float):
    """Build the GPU recipe's model on ``device`` (``--quick``: a toy plan) with the recipe's own
    ``build``, stopped after ``budget`` seconds; rows of its speed and its best model's quality."""
    import os

    import attrs
    from cerberus_bench import _pieces
    from stemlime_cerberus import CerberusSeparator, evaluate
    from stemlime_cerberus.recipe import GPU_PLANS, build
    from stemlime_cerberus.scoring import gap_interval, ideal_mask_scores, median
    from table import Row

    plan = GPU_PLANS["pno-gtr-bss-drm"]  # what a build that trains on a GPU takes (on a CPU: a rehearsal)
    if quick:  # the real plan's kind and shape, scaled down
        settings = attrs.evolve(plan.settings, hidden=16, layers=2, batch_size=4, epochs=3)
        plan = attrs.evolve(plan, pieces=8, validation_pieces=2, seconds=4.0, settings=settings)
    settings = plan.settings
    steps_per_epoch = plan.steps_per_epoch
    total = steps_per_epoch * settings.epochs
    what = (
        f"Cerberus {plan.kind.upper()} recipe ({settings.model_config().network}, {plan.pieces} pieces, "
        f"{settings.epochs} epochs, batch {settings.batch_size} x {settings.chunk_seconds:g} s)"
    )
    stamps: list[tuple[float, int]] = []  # (time, global step)

    def on_step(step: dict) -> None:
        stamps.append((time.perf_counter(), step["global_step"]))
        if time.perf_counter() - started > budget:
            raise _OutOfTime

    with tempfile.TemporaryDirectory() as tmp:
        folder, work = Path(tmp) / "model", Path(tmp) / "work"
        folder.mkdir()
        started = time.perf_counter()
        try:
            build(plan, folder, work, device, progress=False, on_step=on_step)
            finished = True
        except _OutOfTime:
            finished = False
        except Exception as error:  # FluidSynth missing, out of memory: say so in the table, go on
            return [Row(f"{what} on {device}", None, text="failed", note=f"{type(error).__name__}: {error}"[:300])]
        wall = time.perf_counter() - started
        if len(stamps) < 2:
            return [Row(f"{what} on {device}", wall, note=f"stopped after {budget:.0f} s before its second step")]
        first_step = stamps[0][0] - started  # render, read the pieces, start the network
        gaps = np.diff([t for t, _ in stamps])
        boundary = np.array([g % steps_per_epoch == 0 for _, g in stamps[1:]])  # first step of an epoch: after a validation
        step_seconds = float(np.median(gaps[~boundary])) if (~boundary).any() else float(gaps.mean())
        validation = float(np.median(gaps[boundary]) - step_seconds) if boundary.any() else 0.0
        projected = first_step + total * step_seconds + settings.epochs * validation
        done = stamps[-1][1] + 1
        validated = settings.epochs if finished else sum(1 for _, g in stamps[1:] if g % steps_per_epoch == 0)
        rows = [
            Row(
                f"{what} on {device}: rendering and reading {plan.pieces + plan.validation_pieces} pieces, up to the first step",
                first_step,
                note=f"{os.cpu_count()} CPU cores",
            ),
            Row(
                f"{what}: training steps per second",
                1 / step_seconds,
                unit="steps/s",
                higher_is_better=True,
                note=f"median of {len(gaps)} steps; validation after an epoch {validation:.1f} s; {done} of {total} steps done",
            ),
            Row(
                f"{what}: the whole build" + ("" if finished else f" (projected: stopped after {budget:.0f} s)"),
                wall if finished else projected,
                goal=GOAL_RECIPE_SECONDS,
                note=f"{total} steps; {validated} of {settings.epochs} epochs done",
            ),
        ]
        model = folder if finished else work / plan.kind / "model"
        if not (model / "weights.safetensors").is_file():
            return rows + [Row(f"{what}: quality", None, text="no epoch ended", note=f"within {budget:.0f} s")]
        separator = CerberusSeparator(model_dir=model, device=device)
        tracks = _pieces(False, QUALITY_PIECES)
        evaluation = evaluate(separator.network, tracks, transcription=False)  # on the network's device
        medians = evaluation.medians()
        psm_scores = ideal_mask_scores(tracks, separator.network.config, "psm")
        psm = {name: median(v) for name, v in psm_scores.items()}
        trained = "the built model" if finished else f"the best model after {validated} of {settings.epochs} epochs"
        for name, m in medians.items():
            gap = None if psm[name] is None else psm[name] - m["si_sdr"]
            low, high = gap_interval(evaluation.si_sdr[name], psm_scores[name]) if gap is not None else (0.0, 0.0)
            rows.append(
                Row(
                    f"{what}: {name} SI-SDR, {trained}, {len(tracks)} unseen pieces",
                    m["si_sdr"],
                    unit="dB",
                    higher_is_better=True,
                    goal=None if psm[name] is None else round(psm[name] - GOAL_RECIPE_GAP_DB, 1),
                    text=f"{m['si_sdr']:.1f} dB",
                    note=""
                    if gap is None
                    else f"ideal PSM {psm[name]:.1f} dB: {gap:.2f} dB from it (90% bootstrap interval over the pieces "
                    f"{low:.2f}-{high:.2f}; goal: within {GOAL_RECIPE_GAP_DB:g} dB)",
                )
            )
        rest = evaluation.rest_median()
        rows.append(
            Row(
                f"{what}: the rest's energy against the mixture's, {trained}",
                rest,
                unit="dB",
                text="silent: the stems add up to the mixture" if rest is None else f"{rest:.1f} dB",
                note="what no mask took",
            )
        )
        return rows


def _demucs(device: str, audio: np.ndarray, rate: int):
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_models import htdemucs, save_demucs_safetensors, write_bag

    from stemlime import get_registry

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "htdemucs"
        folder.mkdir()
        save_demucs_safetensors(htdemucs(seed=0), folder, "955717e8")
        write_bag(folder, "htdemucs", ["955717e8"])
        return _compare(
            "Demucs (random-weight HTDemucs)",
            lambda d: get_registry().build("separator", f"demucs:htdemucs,model_dir={folder},device={d}"),
            audio,
            rate,
            device,
        )


def main(argv=None) -> int:
    from table import load_average, render

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes: a rehearsal of the script")
    parser.add_argument(
        "--sections", default=",".join(DEFAULT_SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)} (default: all but recipe)"
    )
    parser.add_argument("--recipe-seconds", type=float, default=RECIPE_SECONDS, help="the recipe section's build stops after this")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or not chosen:
        parser.error(f"--sections takes names from {', '.join(SECTIONS)}, got {args.sections!r}")
    count, batches, samples, song = (256, (64, 256), (256,), 20.0) if args.quick else (8192, (256, 1024, 4096), (256, 16384), SONG_SECONDS)
    sections = {
        "fidelity": lambda: fidelity(args.device),
        "throughput": lambda: throughput(args.device, count, batches),
        "song": lambda: song_scale(args.device, samples),
        "separation": lambda: separation(args.device, song),
        "stemgram": lambda: stemgram(args.device, song),
        "recipe": lambda: recipe(args.device, args.quick, args.recipe_seconds),
    }
    rows = []
    for name in chosen:
        started = time.perf_counter()
        rows += sections[name]()
        print(f"check: section {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"stemlime device check, {args.device}; {load_average()}")
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
