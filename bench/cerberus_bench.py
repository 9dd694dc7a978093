"""Quality of the recipe's Cerberus model (cerberus/pno-gtr-bss-drm) on unseen rendered pieces.

``run()`` returns the lines to print. Measured in the same run, on PIECES pieces of 10 s at
16 kHz with piano, guitar, bass and drums, rendered from seeds that no recipe trains or
validates on (stemlime_cerberus.recipe.BENCH_SEED on):

- the median SI-SDR per instrument of the model's stems;
- the baseline: the median SI-SDR of the mixture itself against each true stem (doing nothing);
- the ceiling: the ideal phase-sensitive mask computed from the true stems (what the masks are trained toward);
- spleeter 4stems (drums, bass) where its model files are here;
- frame-level F1 of the transcription (mir_eval multipitch precision and recall; onset F1 within
  50 ms for drums), and the separation's speed.

The paper's figures (Manilow et al. 2020, Cerberus pno/gtr/bss/drm on Slakh2100) are quoted,
not measured: its weights are unpublished, and Slakh2100 is not reachable here.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

PIECES = 20
SECONDS = 10.0
MODEL = "cerberus/pno-gtr-bss-drm"
PAPER = {"piano": (6.1, 0.83), "guitar": (5.8, 0.79), "bass": (7.7, 0.94), "drums": (11.3, None)}  # SI-SDR dB, F1


def _spleeter_line(tracks) -> str:
    import numpy as np

    from stemlime import ModelFilesError, get_registry
    from stemlime.models import model_path
    from stemlime_cerberus.metrics import si_sdr

    try:
        model_path("spleeter/4stems")
    except ModelFilesError:
        return ("  spleeter 4stems: not measured, its model files are not here (they come only from spleeter's GitHub release "
                "archives: stemlime models fetch spleeter/4stems where GitHub is reachable)")
    separator = get_registry().build("separator", "spleeter:4stems,device=cpu")
    scores = {"bass": [], "drums": []}
    for track in tracks:
        stems = separator.separate(track.mixture(), track.sample_rate)
        for name in scores:
            scores[name].append(si_sdr(stems[name], track.stems[name]))
    return "  spleeter 4stems: " + ", ".join(f"{name} {np.median(v):.1f} dB" for name, v in scores.items()) + " (no piano or guitar stem)"


def run() -> list[str]:
    from stemlime import ModelFilesError
    from stemlime.models import model_path

    title = f"Cerberus {MODEL}, {PIECES} unseen rendered pieces of {SECONDS:.0f} s at 16 kHz (piano, guitar, bass, drums), CPU"
    try:
        folder = model_path(MODEL)
    except ModelFilesError:
        return [title, f"  skipped: the recipe's model is not built. Build it with\n    stemlime models build {MODEL}\n"
                       "  (about 11 minutes of one CPU core; a few with --device cuda)"]
    import json

    from stemlime_cerberus import CerberusSeparator, evaluate, read_tracks
    from stemlime_cerberus.scoring import ideal_mask_si_sdr
    from stemlime_cerberus.recipe import BENCH_SEED
    from stemlime_render import render_song

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    instruments = tuple(PAPER)
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(PIECES):
            render_song(BENCH_SEED + index, SECONDS, ",".join(instruments), 16000).save(Path(tmp) / f"piece-{index:05d}")
        tracks = read_tracks([tmp], instruments)
    separator = CerberusSeparator(device="cpu")
    network = separator.network
    started = time.perf_counter()
    evaluation = evaluate(network, tracks, transcription=False)
    seconds = time.perf_counter() - started
    medians = evaluate(network, tracks, transcription=True).medians()
    ideal = ideal_mask_si_sdr(tracks, network.config)
    config = json.loads((folder / "config.json").read_text())
    model = config["model"]
    lines = [
        title + f" (load average {load:.1f})",
        f"  model: {model['layers']} x {model['hidden']} BLSTM, trained by the recipe on {config['training']['data']['tracks']} "
        f"pieces ({config['training']['elapsed']['cpu_seconds']:.0f} CPU s of training)",
        f"  {'instrument':<10} {'Cerberus':>9} {'mixture':>9} {'ideal mask':>10} {'paper':>7}   {'F1':>5} {'paper':>6}",
    ]
    for name in instruments:
        m = medians[name]
        paper_sdr, paper_f1 = PAPER[name]
        f1_label = "onset F1" if name == "drums" else "frame F1"
        lines.append(f"  {name:<10} {m['si_sdr']:7.1f} dB {m['mixture_si_sdr']:6.1f} dB {ideal[name]:7.1f} dB {paper_sdr:5.1f} dB   "
                     f"{m['f1']:5.2f} {'' if paper_f1 is None else f'{paper_f1:6.2f}':>6}   ({f1_label})")
    shortfall = [f"{name} {PAPER[name][0] - medians[name]['si_sdr']:.1f} dB" for name in instruments
                 if medians[name]["si_sdr"] < PAPER[name][0]]
    lines.append("  SI-SDR at or above the paper's for every instrument" if not shortfall
                 else "  below the paper's SI-SDR by: " + ", ".join(shortfall))
    lines.append("  ideal mask: the phase-sensitive mask from the true stems (the ceiling of any masking separator with this STFT)")
    lines.append(_spleeter_line(tracks))
    lines.append(f"  separation alone: {seconds:.1f} s for {PIECES * SECONDS:.0f} s of audio (RTF {seconds / (PIECES * SECONDS):.3f})")
    lines.append("  paper: Manilow, Seetharaman & Pardo 2020, Cerberus pno/gtr/bss/drm on Slakh2100 (quoted, not measured here)")
    return lines


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    print("\n".join(run()))
