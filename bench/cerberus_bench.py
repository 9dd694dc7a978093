"""Quality of the recipe's Cerberus model (cerberus/pno-gtr-bss-drm) on unseen rendered pieces.

``run()`` returns the lines to print. Measured in the same run, on PIECES pieces of 10 s at
16 kHz with piano, guitar, bass and drums, rendered on every core from seeds that no recipe trains
or validates on (stemlime_cerberus.recipe.BENCH_SEED on), once with each arrangement generator:
the default one (piano and guitar comp the same chords in one register) and the opt-in
``distinct_parts`` one (each part its own role and register). For each:

- the median SI-SDR per instrument of the model's stems;
- the baseline: the median SI-SDR of the mixture itself against each true stem (doing nothing);
- the ceilings: ideal masks computed from the true stems, the truncated phase-sensitive mask
  (PSM, the target of the mask-inference loss, the best real mask in [0, 1] per bin) and the
  ideal ratio mask (IRM, |S_i| / sum |S_j|: masks that sum to one, as the network's softmax does);
- the gap (the ideal PSM's median less the model's), with its 90% bootstrap interval over the
  pieces (how far other pieces like these could move it: 20 pieces moved guitar's by 0.4 dB from
  one set to the next, and 60 pieces held twice the share of guitar's hardest program that the
  generator draws), and whether it is within GOAL_DB (issue #27's goal for the CPU recipe);
- the level of the ``rest`` stem against the mixture (a separator whose stems come out too quiet
  leaves the difference there, and explanations then credit the rest);
- frame-level F1 of the transcription (mir_eval multipitch precision and recall; onset F1 within
  50 ms for drums), decoded with the model's thresholds (chosen on its validation pieces), on the
  first DETAIL_PIECES pieces (mir_eval's matching costs about a second a piece);
- spleeter 4stems (drums, bass) where its model files are here (on the first DETAIL_PIECES), and
  the separation's speed;
- the training's speed with the recipe's settings: seconds per step in one process and in the
  recipe's data-parallel workers (one epoch of TRAINING_PIECES bench pieces each), and their ratio; where the
  recipe trains in bfloat16 on this CPU, also in float32 in one process.

The paper's figures (Manilow et al. 2020, Cerberus pno/gtr/bss/drm on Slakh2100) are quoted,
not measured: its weights are unpublished, and Slakh2100 is not reachable here.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

PIECES = 600  # gaps within about +-0.1 dB (90%); over 20 pieces a median moved by up to 0.6 dB, over 60 by 0.1 to 0.2 (docs)
DETAIL_PIECES = 60  # the transcription's F1 and spleeter's rows: the first of the pieces
TRAINING_PIECES = 20  # the training speed's epoch
GOAL_DB = 2.0  # the CPU recipe's goal: every instrument's gap to the ideal PSM at most this
SECONDS = 10.0
MODEL = "cerberus/pno-gtr-bss-drm"
PAPER = {"piano": (6.1, 0.83), "guitar": (5.8, 0.79), "bass": (7.7, 0.94), "drums": (11.3, None)}  # SI-SDR dB, F1
GENERATORS = {"default generator": False, "distinct_parts generator": True}


def _spleeter_line(tracks) -> str:
    import numpy as np

    from stemlime import ModelFilesError, get_registry
    from stemlime.models import model_path
    from stemlime_cerberus.metrics import si_sdr

    try:
        model_path("spleeter/4stems")
    except ModelFilesError:
        return (
            "  spleeter 4stems: not measured, its model files are not here (they come only from spleeter's GitHub release "
            "archives: stemlime models fetch spleeter/4stems where GitHub is reachable)"
        )
    separator = get_registry().build("separator", "spleeter:4stems,device=cpu")
    scores = {"bass": [], "drums": []}
    for track in tracks:
        stems = separator.separate(track.mixture(), track.sample_rate)
        for name in scores:
            scores[name].append(si_sdr(stems[name], track.stems[name]))
    return "  spleeter 4stems: " + ", ".join(f"{name} {np.median(v):.1f} dB" for name, v in scores.items()) + " (no piano or guitar stem)"


def _pieces(distinct_parts: bool, count: int = PIECES):
    """The first ``count`` bench pieces of a generator (seeds BENCH_SEED on), rendered on every core."""
    from stemlime_cerberus import read_tracks
    from stemlime_cerberus.recipe import BENCH_SEED
    from stemlime_render import render_dataset

    with tempfile.TemporaryDirectory() as tmp:
        render_dataset(tmp, count, BENCH_SEED, SECONDS, [",".join(PAPER)], sample_rate=16000, progress=False, distinct_parts=distinct_parts)
        return read_tracks([tmp], tuple(PAPER))


def _table(network, thresholds, tracks, goal: bool) -> tuple[list[str], float]:
    """The table of one generator's pieces, with the line on GOAL_DB where ``goal``, and the
    seconds the separation alone took."""
    from stemlime_cerberus import evaluate
    from stemlime_cerberus.scoring import gap_interval, ideal_mask_scores, ideal_mask_si_sdr, median

    started = time.perf_counter()
    evaluation = evaluate(network, tracks, transcription=False)
    seconds = time.perf_counter() - started
    medians = evaluation.medians()
    f1s = evaluate(network, tracks[:DETAIL_PIECES], transcription=True, thresholds=thresholds).medians()
    psm_scores = ideal_mask_scores(tracks, network.config, "psm")
    psm = {name: median(v) for name, v in psm_scores.items()}
    irm = ideal_mask_si_sdr(tracks, network.config, "irm")
    lines = [
        f"  {'instrument':<10} {'Cerberus':>9} {'mixture':>9} {'ideal PSM':>10} {'gap (90% interval)':>22} {'ideal IRM':>10} {'paper':>8}"
        f"   {'F1':>5} {'paper':>6}"
    ]
    gaps = {}
    for name in PAPER:
        m = medians[name]
        paper_sdr, paper_f1 = PAPER[name]
        f1_label = "onset F1" if name == "drums" else "frame F1"
        f1 = "  n/a" if f1s[name]["f1"] is None else f"{f1s[name]['f1']:5.2f}"
        gaps[name] = psm[name] - m["si_sdr"]
        low, high = gap_interval(evaluation.si_sdr[name], psm_scores[name])
        lines.append(
            f"  {name:<10} {m['si_sdr']:6.1f} dB {m['mixture_si_sdr']:6.1f} dB {psm[name]:7.1f} dB "
            f"{gaps[name]:5.2f} dB ({low:4.2f}-{high:4.2f}) {irm[name]:7.1f} dB "
            f"{paper_sdr:5.1f} dB   {f1} {'' if paper_f1 is None else f'{paper_f1:6.2f}':>6}   ({f1_label})"
        )
    within, beyond = [n for n, g in gaps.items() if g <= GOAL_DB], [f"{n} ({g:.2f} dB)" for n, g in gaps.items() if g > GOAL_DB]
    if goal:
        lines.append(
            f"  within {GOAL_DB:g} dB of the ideal PSM: {', '.join(within) or 'none'}" + (f"; not: {', '.join(beyond)}" if beyond else "")
        )
    shortfall = [f"{name} {PAPER[name][0] - medians[name]['si_sdr']:.1f} dB" for name in PAPER if medians[name]["si_sdr"] < PAPER[name][0]]
    above_ceiling = [name for name in PAPER if psm[name] < PAPER[name][0]]
    lines.append(
        "  SI-SDR at or above the paper's for every instrument"
        if not shortfall
        else "  below the paper's SI-SDR by: " + ", ".join(shortfall)
    )
    if above_ceiling:
        lines.append(f"  the paper's figure is above even the ideal PSM here for: {', '.join(above_ceiling)}")
    rest = evaluation.rest_median()
    level = (
        "silent: the stems add up to the mixture"
        if rest is None
        else f"median {rest:.1f} dB against the mixture's energy (0 dB: all of it)"
    )
    lines.append(f"  rest (what no instrument's mask took): {level}")
    return lines, seconds


def _training_speed() -> str:
    """Wall-clock seconds per training step with the recipe's settings on this CPU, in one process
    and in the recipe's data-parallel workers, and in float32 in one process where the recipe
    trains in bfloat16, on the bench pieces (ratios measured in one run)."""
    import attrs
    import numpy as np

    from stemlime_cerberus import train
    from stemlime_cerberus.recipe import BENCH_SEED, PLANS
    from stemlime_render import render_dataset

    settings = attrs.evolve(PLANS["pno-gtr-bss-drm"].settings_on("cpu"), epochs=1)
    runs = {"one": attrs.evolve(settings, workers=1), "workers": settings}
    if settings.precision != "float32":
        runs["float32"] = attrs.evolve(settings, workers=1, precision="float32")
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder, count, seed in (("data", TRAINING_PIECES, BENCH_SEED), ("validation", 1, BENCH_SEED + TRAINING_PIECES)):
            render_dataset(root / folder, count, seed, SECONDS, [",".join(PAPER)], sample_rate=16000, progress=False)
        for name, run in runs.items():
            times: list[float] = []
            with contextlib.redirect_stderr(io.StringIO()):  # the trainer's epoch lines: not part of the bench's table
                train(
                    [root / "data"],
                    root / f"model-{name}",
                    run,
                    validation=[root / "validation"],
                    device="cpu",
                    progress=False,
                    score_transcription=False,
                    on_step=lambda step: times.append(time.perf_counter()),
                )
            seconds[name] = float(np.median(np.diff(times)))
    one, many = seconds["one"], seconds["workers"]
    line = (
        f"  training, the recipe's settings ({settings.batch_size} chunks of {settings.chunk_seconds:g} s a step, {settings.precision}, "
        f"one thread a process): {one:.3f} s a step in one process, {many:.3f} s in {settings.workers} workers "
        f"({one / many:.2f} times the speed)"
    )
    if "float32" in seconds:
        line += (
            f"; in float32, one process: {seconds['float32']:.3f} s ({settings.precision} {seconds['float32'] / one:.2f} times its speed)"
        )
    return line


def run() -> list[str]:
    from stemlime import ModelFilesError
    from stemlime.models import model_path

    title = f"Cerberus {MODEL}, {PIECES} unseen rendered pieces of {SECONDS:.0f} s at 16 kHz (piano, guitar, bass, drums), CPU"
    try:
        folder = model_path(MODEL)
    except ModelFilesError:
        return [
            title,
            f"  skipped: the recipe's model is not built. Build it with\n    stemlime models build {MODEL}\n"
            "  (see the README's cerberus section for the time it takes)",
        ]
    import json

    from stemlime_cerberus import CerberusSeparator
    from stemlime_cerberus.recipe import BENCH_SEED

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    separator = CerberusSeparator(device="cpu")
    network, thresholds = separator.network, separator.thresholds
    config = json.loads((folder / "config.json").read_text())
    training = config["training"]
    recipe = config.get("recipe", {})
    trained_on = recipe.get("data", f"{training['data']['tracks']} pieces")
    plan = f"the {recipe.get('sized_for', 'cpu').upper()} recipe" if recipe else "its trainer"
    lines = [
        title + f" (load average {load:.1f})",
        f"  model: {network.config.network}, trained by {plan} on {trained_on} "
        f"({training['elapsed']['cpu_seconds']:.0f} CPU s of training, {training.get('steps_per_epoch', 0) * training.get('epochs_done', 0)} "
        f"steps); decoding thresholds {thresholds or 'none (0.5)'}",
    ]
    tracks = None
    for label, distinct in GENERATORS.items():
        tracks = _pieces(distinct)
        table, seconds = _table(network, thresholds, tracks, goal=not distinct)
        lines += [f"  {label} (seeds {BENCH_SEED}-{BENCH_SEED + PIECES - 1}{', distinct_parts=True' if distinct else ''}):", *table]
    lines.append(
        "  ideal PSM / IRM: masks computed from the true stems (phase-sensitive, truncated to [0, 1]; ratio of magnitudes); gap: the ideal PSM less Cerberus, "
        "and in brackets the central 90% of it over 2,000 bootstrap draws of the pieces; "
        f"F1: on the first {DETAIL_PIECES} pieces"
    )
    lines.append(_spleeter_line(tracks[:DETAIL_PIECES]))
    lines.append(f"  separation alone: {seconds:.1f} s for {PIECES * SECONDS:.0f} s of audio (RTF {seconds / (PIECES * SECONDS):.3f})")
    lines.append(_training_speed())
    lines.append("  paper: Manilow, Seetharaman & Pardo 2020, Cerberus pno/gtr/bss/drm on Slakh2100 (quoted, not measured here)")
    return lines


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    print("\n".join(run()))
