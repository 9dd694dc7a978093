"""Speed of the stemgram (#26): a 3-minute song (the fixture mixture repeated), spleeter 2stems
and musicnn, every taggram frame exactly (4 masks a frame), separation included (no stem cache).
The issue's goal: at most 15 s on a 2-core CPU. Baseline: the song's plain taggram (one run per frame)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from table import Row, timed

PIECE = Path(__file__).resolve().parents[1] / "tests" / "data" / "piece1_16k"
SECONDS = 180


def run() -> list[Row]:
    import soundfile
    import tempfile

    from stemlime import Pipeline, get_registry, stemgram

    mix, rate = soundfile.read(PIECE / "mixture.wav", dtype="float32")
    song = np.tile(mix, int(np.ceil(SECONDS * rate / len(mix))))[:SECONDS * rate]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "song.wav"
        soundfile.write(path, song, rate)
        tagger = get_registry().build("tagger", "musicnn,device=cpu")
        separator = get_registry().build("separator", "spleeter:2stems,device=cpu")
        pipeline = Pipeline(tagger=tagger, separator=separator, cache=False)
        pipeline.tag(PIECE / "mixture.wav")  # models loaded before the clock starts
        wall, cpu, gram = timed(lambda: stemgram(pipeline, path, labels=["female vocalists"]))
        base, base_cpu, _ = timed(lambda: pipeline.taggram(path))
    return [Row(f"stemgram: {SECONDS} s song, spleeter 2stems + musicnn, {gram.n_frames} frames x 4 masks, exact, "
                "separation included", wall, cpu=cpu, baseline=base, baseline_cpu=base_cpu,
                baseline_what="the song's taggram alone", goal=15.0)]
