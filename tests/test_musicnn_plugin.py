"""The musicnn tagger inside stemlime: the audioLIME reference, the CLI, bad input, model files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import DATA, PIECE
from model_support import musicnn_folder
from stemlime import AudioError, ModelFilesError, Pipeline, get_registry

STEMLIME = [sys.executable, "-m", "stemlime"]


@pytest.fixture(scope="module")
def tagger():
    musicnn_folder("MSD_musicnn")
    return get_registry().build("tagger", "musicnn:MSD_musicnn,device=cpu")


def test_reproduces_the_original_audiolime_explanation(cli, tmp_path):
    """piece1_16k, 1.0 s + 3 s, five oracle stems, exhaustive: ref_lime.json from TF musicnn + audioLIME."""
    musicnn_folder("MSD_musicnn")
    result = cli(
        "explain",
        str(PIECE / "mixture.wav"),
        "--tagger",
        "musicnn:MSD_musicnn,device=cpu",
        "--separator",
        "oracle",
        "--start",
        "1.0",
        "--duration",
        "3",
        "--samples",
        "exhaustive",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    got = json.loads((tmp_path / "explanation.json").read_text())
    reference = json.loads((PIECE / "ref_lime.json").read_text())
    assert list(got["labels"]) == list(reference["labels"])  # the same top-3 labels, in the same order
    for label, expected in reference["labels"].items():
        expected_weights = {name.rstrip("0"): weight for name, weight in expected["weights"].items()}  # audioLIME: "vocals0"
        weights = got["labels"][label]["weights"]
        assert list(weights) == list(expected_weights)
        for component, weight in expected_weights.items():
            assert abs(weights[component] - weight) < 0.01
        assert abs(got["labels"][label]["intercept"] - expected["intercept"]) < 0.01
        assert abs(got["prediction"][label] - reference["prediction"][label]) < 1e-4
    assert got["distinct_evaluations"] == 32


def test_distinct_evaluations_and_determinism_with_sampling(tagger):
    pipeline = Pipeline(tagger=tagger)
    first = pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples=1000, seed=0, progress=False)
    second = pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples=1000, seed=0, progress=False)
    assert first.distinct_evaluations == 32
    assert first.to_json() == second.to_json()
    assert first.top("female vocalists", 1)[0][0] == "vocals"


def test_tag_json_and_plot(cli, tmp_path):
    musicnn_folder("MSD_musicnn")
    plot = tmp_path / "taggram.png"
    result = cli("tag", str(DATA / "musicnn" / "piece1_mixture_16k.wav"), "--tagger", "musicnn,device=cpu", "--json", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tagger"] == "musicnn:MSD_musicnn,device=cpu" and len(data["labels"]) == 50
    assert data["hop_seconds"] == pytest.approx(187 * 256 / 16000)
    reference = np.load(DATA / "musicnn" / "piece1_MSD_musicnn.npz")["taggram"]
    np.testing.assert_allclose(np.array(data["taggram"]), reference, atol=1e-4)
    np.testing.assert_allclose(data["mean"], reference.mean(axis=0), atol=1e-4)
    assert plot.stat().st_size > 5000


def test_features_match_musicnns_extractor(tagger):
    audio, _ = soundfile.read(DATA / "musicnn" / "piece1_mixture_16k.wav", dtype="float32")
    features = tagger.features(audio)
    reference = np.load(DATA / "musicnn" / "piece1_MSD_musicnn.npz")
    for name in ("timbral", "temporal", "mean_pool", "max_pool"):
        assert np.abs(features[name] - reference[name]).max() < 1e-3, name
    # musicnn 0.1.0 repeats patch 1 for these (tests/data/musicnn/README.md): compare patch 1
    for name, rows in (("cnn1", 187), ("cnn2", 187), ("cnn3", 187), ("penultimate", 1)):
        assert np.abs(features[name][:rows] - reference[name][:rows]).max() < 1e-3, name


def test_bf16_stays_close_to_float32():
    musicnn_folder("MSD_musicnn")
    registry = get_registry()
    audio, _ = soundfile.read(DATA / "musicnn" / "piece1_mixture_16k.wav", dtype="float32")
    full = registry.build("tagger", "musicnn,device=cpu").taggram(audio)
    half = registry.build("tagger", "musicnn,device=cpu,precision=bf16").taggram(audio)
    assert 0 < np.abs(full - half).max() < 0.05


def test_batch_size_and_overlap(tagger):
    audio, _ = soundfile.read(DATA / "musicnn" / "piece1_mixture_16k.wav", dtype="float32")
    one = get_registry().build("tagger", "musicnn,device=cpu,batch_size=1")
    np.testing.assert_allclose(one.predict(audio[None]), tagger.predict(audio[None]), atol=1e-6)
    overlapping = get_registry().build("tagger", "musicnn,device=cpu,overlap=1")
    assert len(overlapping.taggram(audio)) > len(tagger.taggram(audio))


def test_short_audio_silence_and_nan(tagger):
    with pytest.raises(AudioError, match="at least 47616 samples"):
        tagger.predict(np.zeros((1, 16000), np.float32))
    silence = tagger.predict(np.zeros((2, 48000), np.float32))
    assert silence.shape == (2, 50) and np.all(np.isfinite(silence))
    noisy = np.zeros((1, 48000), np.float32)
    noisy[0, 5] = np.inf
    with pytest.raises(AudioError, match="NaN or infinite"):
        tagger.predict(noisy)
    pipeline = Pipeline(tagger=tagger)
    with pytest.raises(AudioError, match=r"needs at least 3.0 s"):
        pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=1.0, progress=False)
    padded = pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=1.0, pad=True, samples=16, progress=False)
    assert padded.component_audio.shape[1] == 48000


def test_checkpoint_folder_with_a_missing_or_corrupt_file(tmp_path):
    folder = tmp_path / "MSD_musicnn"
    shutil.copytree(musicnn_folder("MSD_musicnn"), folder)
    (folder / ".data-00000-of-00001").unlink()
    with pytest.raises(ModelFilesError, match="lacks .data-00000-of-00001"):
        get_registry().build("tagger", f"musicnn,model_dir={folder}").predict(np.zeros((1, 48000), np.float32))
    shutil.copy(musicnn_folder("MSD_musicnn") / ".data-00000-of-00001", folder)
    from stemlime.tfcheckpoint import list_checkpoint

    weights = list_checkpoint(f"{folder}/")["dense_1/kernel"]  # a variable the network reads
    raw = bytearray((folder / ".data-00000-of-00001").read_bytes())
    raw[weights.offset + weights.size // 2] ^= 0xFF
    (folder / ".data-00000-of-00001").write_bytes(bytes(raw))
    with pytest.raises(ModelFilesError, match="fails its checksum"):
        get_registry().build("tagger", f"musicnn,model_dir={folder}").predict(np.zeros((1, 48000), np.float32))


def test_a_vgg_checkpoint_given_for_musicnn_is_named(tmp_path):
    with pytest.raises(ModelFilesError, match="looks like a vgg checkpoint"):
        get_registry().build("tagger", f"musicnn:MSD_musicnn,model_dir={musicnn_folder('MSD_vgg')}").network


def test_missing_model_files_say_how_to_fetch_them(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "STEMLIME_HOME": str(tmp_path / "empty"), "HOME": str(tmp_path)}
    result = subprocess.run(
        STEMLIME + ["tag", str(DATA / "musicnn" / "piece1_mixture_16k.wav"), "--tagger", "musicnn:MTT_vgg"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert "stemlime models fetch musicnn/MTT_vgg" in result.stderr and "musicnn==0.1.0" in result.stderr
    assert "STEMLIME_MUSICNN_DIR" in result.stderr and "Traceback" not in result.stderr


def test_fetch_from_the_wheel_into_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMLIME_HOME", str(tmp_path))
    result = subprocess.run(STEMLIME + ["models", "fetch", "musicnn/MTT_vgg"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "musicnn" / "MTT_vgg" / ".index").is_file()
    listed = subprocess.run(STEMLIME + ["models", "path", "musicnn/MTT_vgg"], capture_output=True, text=True)
    assert Path(listed.stdout.strip()) == tmp_path / "musicnn" / "MTT_vgg"
