"""The model cache: verified once (SHA-256, every CRC-32C, the plugin's check), then loaded fast
from a safetensors copy; damage is found by `models list` / `models path` and says how to repair
it. Also: resampling through soxr gives librosa's soxr_hq output bit for bit.

The model tests copy the cached checkpoints into a temporary $STEMLIME_HOME; the real cache is
only read.
"""

from __future__ import annotations

from model_support import musicnn_folder, spleeter_folder

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import attrs
import numpy as np
import pytest
import soundfile

from conftest import PIECE
from stemlime import ModelFilesError, get_registry
from stemlime.audio import resample
from stemlime.models import ArchiveSource, ModelStore, load_tensors
from stemlime.tfcheckpoint import read_checkpoint
from stemlime.verified_copy import COPY_NAME, MARKER_NAME, sha256_of

STEMLIME = [sys.executable, "-m", "stemlime"]
MUSICNN = "musicnn/MSD_musicnn"
SPLEETER = "spleeter/2stems"


_ORIGINALS: dict[str, Path] = {}  # the real cache's folders, found before $STEMLIME_HOME moves


def _original_folder(name: str) -> Path:
    if name not in _ORIGINALS:
        raise AssertionError(f"{name}: ask for the `real_cache` fixture first")
    return _ORIGINALS[name]


@pytest.fixture(scope="module")
def real_cache() -> dict[str, Path]:
    """The cached folders of the models these tests copy (skips when they are not fetched)."""
    _ORIGINALS[MUSICNN] = musicnn_folder("MSD_musicnn")
    _ORIGINALS[SPLEETER] = spleeter_folder("2stems")
    return _ORIGINALS


def _checkpoint_prefix(name: str, folder: Path) -> str:
    return f"{folder}/" if name.startswith("musicnn/") else f"{folder}/model"


@pytest.fixture
def home(real_cache, tmp_path, monkeypatch) -> Path:
    """An empty $STEMLIME_HOME, no environment folders."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("STEMLIME_HOME", str(home))
    for variable in ("MODEL_PATH", "STEMLIME_MUSICNN_DIR"):
        monkeypatch.delenv(variable, raising=False)
    return home


def _copy_originals(name: str, home: Path) -> Path:
    """The model's own files (no marker, no copy) in ``home``: a folder never verified."""
    model = get_registry().models[name]
    folder = home / name
    folder.mkdir(parents=True)
    for file in model.files:
        shutil.copy2(_original_folder(name) / file, folder / file)
    return folder


def _flip_byte(path: Path, offset: int, keep_mtime: bool = False) -> None:
    """Damage one byte in place: same size (and, with ``keep_mtime``, the same mtime)."""
    stat = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x5A]))
    if keep_mtime:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(STEMLIME + list(args), capture_output=True, text=True, env=os.environ.copy())


# ----------------------------------------------------------------------------- verified once


def _musicnn_zip(folder: Path) -> Path:
    """The MSD_musicnn checkpoint files in a zip archive, under MSD_musicnn/."""
    original = _original_folder(MUSICNN)
    archive = folder / "musicnn.zip"
    with zipfile.ZipFile(archive, "w") as package:
        for file in get_registry().models[MUSICNN].files:
            package.write(original / file, arcname=f"MSD_musicnn/{file}")
    return archive


def test_fetch_verifies_and_writes_the_marker_and_the_safetensors_copy(home, tmp_path):
    archive = _musicnn_zip(tmp_path)
    declared = get_registry().models[MUSICNN]
    model = attrs.evolve(declared, sources=[ArchiveSource(archive.as_uri(), prefix="MSD_musicnn")])

    folder = ModelStore({MUSICNN: model}).fetch(MUSICNN)

    assert folder == home / MUSICNN
    marker = json.loads((folder / MARKER_NAME).read_text())
    assert set(marker["files"]) == set(declared.files) | {COPY_NAME}
    for file, record in marker["files"].items():
        assert record["sha256"] == sha256_of(folder / file)
        assert record["size"] == (folder / file).stat().st_size
    for file, expected in declared.sha256.items():  # the published checksums were checked
        assert marker["files"][file]["sha256"] == expected


def test_archives_come_over_http_and_a_published_checksum_is_checked(home, tmp_path):
    import functools
    import http.server
    import threading

    archive = _musicnn_zip(tmp_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/musicnn.zip"
    declared = get_registry().models[MUSICNN]

    def store(source: ArchiveSource) -> ModelStore:
        return ModelStore({MUSICNN: attrs.evolve(declared, sources=[source])})

    try:
        folder = store(ArchiveSource(url, prefix="MSD_musicnn", sha256=sha256_of(archive))).fetch(MUSICNN)
        assert json.loads((folder / MARKER_NAME).read_text())["files"].keys() == set(declared.files) | {COPY_NAME}
        with pytest.raises(ModelFilesError, match=r"could not download http://127\.0\.0\.1.*musicnn\.zip.*(?i:hash)"):
            store(ArchiveSource(url, prefix="MSD_musicnn", sha256="0" * 64)).fetch(MUSICNN, force=True)
        with pytest.raises(ModelFilesError, match=r"could not download .*missing\.zip.*404"):
            store(ArchiveSource(url.replace("musicnn.zip", "missing.zip"))).fetch(MUSICNN, force=True)
        assert (folder / ".index").is_file() and (folder / MARKER_NAME).is_file()  # failed fetches left it alone
    finally:
        server.shutdown()


@pytest.mark.parametrize("name", [MUSICNN, SPLEETER])
def test_tensors_from_the_copy_equal_the_tensorflow_checkpoint(name, home, monkeypatch):
    folder = _copy_originals(name, home)
    first = load_tensors(name)  # first use: verifies in full and writes the copy
    assert (folder / COPY_NAME).is_file() and (folder / MARKER_NAME).is_file()

    import stemlime.tfcheckpoint

    def no_checksums(*args, **kwargs):
        raise AssertionError("a load from the verified copy computed a CRC-32C")

    monkeypatch.setattr(stemlime.tfcheckpoint, "crc32c", no_checksums)
    loaded = load_tensors(name)
    monkeypatch.undo()
    reference = read_checkpoint(_checkpoint_prefix(name, _original_folder(name)), names=sorted(loaded))
    assert sorted(loaded) == sorted(first) == sorted(reference)
    for key, value in reference.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


# ----------------------------------------------------------------------------- damage


@pytest.mark.parametrize("damaged", [".data-00000-of-00001", COPY_NAME])
def test_models_list_and_path_find_a_damaged_file_of_the_right_size(cli, damaged, home):
    folder = _copy_originals(MUSICNN, home)
    load_tensors(MUSICNN)  # verified, copy written
    listed = cli("models", "list")
    assert f"{MUSICNN}: cached: {folder}" in listed.stdout, listed.stdout + listed.stderr

    _flip_byte(folder / damaged, (folder / damaged).stat().st_size // 2)

    listed = cli("models", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(f"{MUSICNN}:"))
    assert f"damaged: run stemlime models fetch {MUSICNN} --force" in line
    located = cli("models", "path", MUSICNN)
    assert located.returncode != 0
    assert "damaged" in located.stderr and f"stemlime models fetch {MUSICNN} --force" in located.stderr


def test_loading_a_damaged_copy_says_fetch_force(home):
    folder = _copy_originals(MUSICNN, home)
    load_tensors(MUSICNN)
    _flip_byte(folder / COPY_NAME, 10, keep_mtime=True)  # inside the JSON header; size and mtime kept: the marker is trusted
    with pytest.raises(ModelFilesError, match=rf"(?s)damaged.*stemlime models fetch {MUSICNN} --force"):
        load_tensors(MUSICNN)


def test_loading_a_changed_original_verifies_again_and_says_fetch_force(home):
    folder = _copy_originals(MUSICNN, home)
    load_tensors(MUSICNN)
    _flip_byte(folder / ".data-00000-of-00001", 1000)  # new mtime: loading no longer trusts the marker
    with pytest.raises(ModelFilesError, match=rf"(?s)damaged.*stemlime models fetch {MUSICNN} --force"):
        load_tensors(MUSICNN)


def test_a_model_dir_is_read_with_every_checksum(home, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(_original_folder(MUSICNN), folder, ignore=shutil.ignore_patterns(".stemlime-*"))
    names = ["dense_1/kernel"]
    assert load_tensors(MUSICNN, folder, names=names).keys() == {"dense_1/kernel"}
    assert not (folder / COPY_NAME).exists()  # a user's folder is never written to
    from stemlime.tfcheckpoint import list_checkpoint

    _flip_byte(folder / ".data-00000-of-00001", list_checkpoint(f"{folder}/")["dense_1/kernel"].offset + 4)
    with pytest.raises(ModelFilesError, match=r"(?s)dense_1/kernel.*checksum.*--force"):
        load_tensors(MUSICNN, folder)


# ----------------------------------------------------------------------------- resampling


def _real_audio(channels: int) -> np.ndarray:
    names = ["mixture", "vocals", "drums"][:channels]
    audio = np.stack([soundfile.read(PIECE / f"{name}.wav", dtype="float32")[0] for name in names], axis=1)
    return audio[:, 0] if channels == 1 else audio


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize(
    "rates", [(16000, 44100), (44100, 16000), (16000, 22050), (22050, 16000), (48000, 44100), (16000, 8000), (11025, 16000)]
)
def test_resample_is_librosas_soxr_hq_bit_for_bit(channels, rates):
    librosa = pytest.importorskip("librosa")
    audio = _real_audio(channels)
    source, target = rates
    expected = librosa.resample(audio.T, orig_sr=source, target_sr=target, res_type="soxr_hq", axis=-1).T
    got = resample(audio, source, target)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    short = audio[:1001]  # a length whose resampled size is rounded
    np.testing.assert_array_equal(
        resample(short, source, target), librosa.resample(short.T, orig_sr=source, target_sr=target, res_type="soxr_hq", axis=-1).T
    )


def test_resampling_imports_no_librosa():
    code = (
        "import sys, numpy as np; from stemlime.audio import resample; "
        "assert resample(np.ones(1600, np.float32), 16000, 44100).shape == (4410,); "
        "assert 'librosa' not in sys.modules, 'librosa was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
