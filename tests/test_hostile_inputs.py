"""A sweep of hostile inputs: every one gets a clear message and the documented exit status,
never a traceback, never an "unexpected" bug report, never a lost or overwritten file."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

import stemlime
from conftest import LOUDNESS_MODULE, PIECE

MODELS = (
    LOUDNESS_MODULE
    + """
class Logits(Loudness):
    def predict(self, batch):
        return 40 * super().predict(batch) - 32

class Broken(Loudness):
    def predict(self, batch):
        raise ValueError("boom: weights not loaded")

class NoRate(Loudness):
    sample_rate = 0

tagger, logits, broken, norate = Loudness(), Logits(), Broken(), NoRate()
"""
)


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "mymodel.py").write_text(MODELS)
    song = root / "song"
    shutil.copytree(PIECE, song)
    (root / "songs").mkdir()
    for name in ("a.wav", "b.wav", "c.wav"):
        shutil.copy(PIECE / "mixture.wav", root / "songs" / name)
    (root / "bad-types.toml").write_text('[tagger]\nname = "python"\nobject = "mymodel:tagger"\n[explain]\nsamples = 1.5\n')
    (root / "bool-seed.toml").write_text('[tagger]\nname = "python"\nobject = "mymodel:tagger"\n[explain]\nseed = true\n')
    (root / "zero-width.toml").write_text('[tagger]\nname = "python"\nobject = "mymodel:tagger"\n[explain]\nkernel_width = 0\n')
    (root / "latin1.toml").write_bytes('[tagger]\nname = "python"\nobject = "mymodel:tagger" # caf\xe9\n'.encode("latin-1"))
    (root / "a-file").write_text("not a folder")
    (root / "empty.wav").write_bytes(b"")
    return root


def explain(*extra: str, tagger: str = "tagger", audio: str = "song/mixture.wav") -> list[str]:
    return [
        "explain",
        audio,
        "--tagger",
        f"python,object=mymodel:{tagger},path=.",
        "--start",
        "1",
        "--duration",
        "2",
        "--samples",
        "64",
        "--no-progress",
        "--quiet",
        *extra,
    ]


CASES = [
    # (id, arguments, exit status, part of the message)
    ("negative seed", explain("--seed", "-1", "--out", "o1"), 2, "seed must be a whole number from 0"),
    ("start nan", explain("--start", "nan", "--out", "o2"), 2, "start must be a finite number"),
    ("negative duration", explain("--duration", "-1", "--out", "o3"), 2, "duration must be a finite number"),
    ("ridge num_features=0", explain("--surrogate", "ridge,num_features=0", "--out", "o4"), 2, "num_features must be at least 1"),
    ("lasso alpha -1", explain("--surrogate", "lasso,alpha=-1", "--out", "o5"), 2, "alpha must be at least 0"),
    ("TOML type error", ["explain", "song/mixture.wav", "--config", "bad-types.toml", "--out", "o6"], 2, "samples = 1.5 should be"),
    ("TOML bool seed", ["explain", "song/mixture.wav", "--config", "bool-seed.toml", "--out", "o7"], 2, "seed = True should be"),
    ("kernel_width=0", ["explain", "song/mixture.wav", "--config", "zero-width.toml", "--out", "o8"], 2, "kernel_width must be a positive"),
    ("non-UTF-8 TOML", ["explain", "song/mixture.wav", "--config", "latin1.toml", "--out", "o9"], 2, "not UTF-8"),
    ("tagger sample_rate=0", explain("--out", "o10", tagger="norate"), 2, "sample_rate=0"),
    (
        "tagger raises",
        explain("--out", "o11", tagger="broken"),
        1,
        "mymodel:broken,path=. failed on a batch of 25 input(s) of 32000 samples: ValueError: boom",
    ),
    ("--out is a file", explain("--out", "a-file"), 2, "is an existing file"),
    ("--out under a file", explain("--out", "a-file/out"), 2, "a-file"),
    ("--out is the input's folder", explain("--out", "song"), 2, "song"),
    ("label and top-labels", explain("--label", "loud", "--top-labels", "1", "--out", "o12"), 2, "either labels or top_labels"),
    ("label index out of range", explain("--label", "7", "--out", "o13"), 2, "no label '7'"),
    ("top-labels too many", explain("--top-labels", "4", "--out", "o14"), 2, "top_labels must be a count between 1 and 1"),
    ("one sample", explain("--samples", "1", "--out", "o15"), 2, "distinct mask"),
    ("two samples", explain("--samples", "2", "--out", "o16"), 2, "distinct mask"),
    ("top-k 0", explain("--top-k", "0", "--out", "o17"), 2, "top_k must be a whole number of at least 1 (--top-k)"),
    ("batch size 0", explain("--batch-size", "0", "--out", "o18"), 2, "batch_size must be"),
    ("oracle on a folder of songs", explain("--separator", "oracle", "--out", "o19", audio="songs/a.wav"), 2, "dir="),
    ("oracle dir empty", explain("--separator", "oracle,dir=", "--out", "o20"), 2, "dir="),
    ("empty audio file", explain("--out", "o21", audio="empty.wav"), 1, "empty.wav"),
    ("a folder as audio", explain("--out", "o22", audio="song"), 1, "song"),
    ("missing audio", explain("--out", "o23", audio="nope.wav"), 1, "nope.wav does not exist"),
    (
        "tag plot format",
        ["tag", "song/mixture.wav", "--tagger", "python,object=mymodel:tagger,path=.", "--plot", "x.xyz"],
        2,
        "cannot draw a taggram into x.xyz",
    ),
    (
        "separate into its own folder",
        ["separate", "song/mixture.wav", "--separator", "none", "--duration", "1", "--out", "song"],
        2,
        "song",
    ),
    ("separate into true stems", ["separate", "song/mixture.wav", "--separator", "oracle", "--out", "song", "--force"], 2, "song"),
]


@pytest.mark.parametrize("arguments, status, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_input_gets_a_clear_message_and_loses_nothing(cli, place, arguments, status, message):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (place / "song").iterdir()}
    result = cli(*arguments, cwd=place)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (place / "song").iterdir()} == before
    assert not list(place.glob(".*.tmp-*")), "a temporary result folder was left behind"


def test_a_logit_tagger_is_explained_and_its_outputs_called_scores(cli, place):
    result = cli(*explain("--out", "logits"), cwd=place)
    assert result.returncode == 0
    result = cli(*[a for a in explain("--out", "logits2", tagger="logits") if a != "--quiet"], cwd=place)
    assert result.returncode == 0, result.stderr
    assert "loud: score" in result.stdout and "probability" not in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("stemlime_render") is None, reason="stemlime-render is not installed")
def test_an_impossible_render_is_refused_up_front(cli, place):
    result = cli("render", "--duration", "1e9", "--out", "huge", cwd=place)
    assert result.returncode == 2 and "more than this machine can hold" in result.stderr
    assert not (place / "huge").exists()


class Loudness:
    labels, sample_rate, input_seconds = ["loud"], 16000, None

    def predict(self, batch):
        return np.tanh(10 * np.sqrt((batch.astype(np.float64) ** 2).mean(axis=1, keepdims=True)))


def test_the_python_api_refuses_channels_first_arrays_and_rates_of_zero():
    pipeline = stemlime.Pipeline(tagger=Loudness(), separator="none")
    stereo = np.zeros((2, 48000), np.float32)
    with pytest.raises(stemlime.UsageError, match=r"\(samples, channels\)"):
        pipeline.explain(stereo, sample_rate=16000, samples=8)
    with pytest.raises(stemlime.UsageError, match="sample_rate=0"):
        pipeline.explain(np.zeros(48000, np.float32), sample_rate=0, samples=8)


def test_the_python_api_scales_int16_audio_like_the_file_it_came_from():
    floats, rate = soundfile.read(PIECE / "mixture.wav", dtype="float32")
    audio = np.round(np.clip(floats, -1, 32767 / 32768) * 32768).astype(np.int16)  # what a 16-bit file holds
    pipeline = stemlime.Pipeline(tagger=Loudness(), separator="none")
    from_ints = pipeline.explain(audio, sample_rate=rate, start=1.0, duration=2.0, samples=16, seed=0)
    from_floats = pipeline.explain(audio.astype(np.float32) / 32768, sample_rate=rate, start=1.0, duration=2.0, samples=16, seed=0)
    assert from_ints.labels["loud"].prediction == from_floats.labels["loud"].prediction > 0.2
