"""Speed of the stemgram (#26): a 3-minute song (the fixture mixture repeated) and musicnn,
every taggram frame exactly, separation included (no stem cache).

- spleeter 2stems (4 masks a frame): the issue's goal is at most 15 s on a 2-core CPU;
- spleeter 5stems (32 masks a frame), with seeded random U-Nets (the 5stems checkpoint is not
  reachable here; the arithmetic is the trained model's): a row without a goal.

Baseline: the song's plain taggram (one tagger run per frame). ``bench/device/check.py`` runs
the 5-stem row on the device with :func:`stemgram_row`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from table import Row, timed

PIECE = Path(__file__).resolve().parents[1] / "tests" / "data" / "piece1_16k"
SECONDS = 180


def song_file(folder: Path, seconds: float = SECONDS) -> Path:
    """The fixture mixture repeated to ``seconds``, written as ``folder/song.wav`` (16 kHz)."""
    import soundfile

    mix, rate = soundfile.read(PIECE / "mixture.wav", dtype="float32")
    song = np.tile(mix, int(np.ceil(seconds * rate / len(mix))))[: int(seconds * rate)]
    path = Path(folder) / "song.wav"
    soundfile.write(path, song, rate)
    return path


def random_spleeter(variant: str, device: str):
    """spleeter ``variant`` as the plugin runs it, with seeded random U-Nets instead of the
    trained ones: the same arithmetic on any device (the port's fidelity to TensorFlow is
    tested with the real 2stems weights, ``tests/test_spleeter_fidelity.py``)."""
    import torch
    from stemlime.plugin import torch_device
    from stemlime_spleeter.separator import SpleeterSeparator
    from stemlime_spleeter.unet import MODEL_CONFIGS, StemNetworks, UNet

    config = MODEL_CONFIGS[variant]
    torch.manual_seed(0)
    networks = StemNetworks(
        {stem: UNet(config["conv_activation"], config["deconv_activation"]) for stem in config["stems"]}, config["mask"], config["n_bins"]
    ).eval()
    separator = SpleeterSeparator(variant, device=device)
    separator._networks, separator._device = networks.to(torch_device(device)), torch_device(device)
    return separator


def stemgram_row(what: str, tagger, separator, path: Path, goal: float | None = None) -> Row:
    """One row: the stemgram of ``path`` for "female vocalists" (the models loaded and warm
    before the clock starts), against the song's taggram in the same run."""
    from stemlime import Pipeline, stemgram

    pipeline = Pipeline(tagger=tagger, separator=separator, cache=False)
    pipeline.tag(PIECE / "mixture.wav")  # models loaded before the clock starts
    wall, cpu, gram = timed(lambda: stemgram(pipeline, path, labels=["female vocalists"]))
    base, base_cpu, _ = timed(lambda: pipeline.taggram(path))
    masks = 2 ** len(gram.stems)
    return Row(
        f"stemgram: {gram.n_frames * gram.hop_seconds:.0f} s song, {what} + musicnn, {gram.n_frames} frames x "
        f"{masks} masks, exact, separation included",
        wall,
        cpu=cpu,
        baseline=base,
        baseline_cpu=base_cpu,
        baseline_what="the song's taggram alone",
        goal=goal,
        note=f"{gram.tagger_runs} tagger runs, {gram.tagger_runs / wall:.0f}/s",
    )


def run() -> list[Row]:
    from stemlime import get_registry

    registry = get_registry()
    tagger = registry.build("tagger", "musicnn,device=cpu")
    with tempfile.TemporaryDirectory() as folder:
        path = song_file(Path(folder))
        return [
            stemgram_row("spleeter 2stems", tagger, registry.build("separator", "spleeter:2stems,device=cpu"), path, goal=15.0),
            stemgram_row("spleeter 5stems (random weights)", tagger, random_spleeter("5stems", "cpu"), path),
        ]
