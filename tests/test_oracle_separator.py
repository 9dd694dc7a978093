"""The oracle separator takes stems only from stem folders, and says how well they add up to the mix."""

from __future__ import annotations

import contextlib
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

import stemlime
from stemlime import get_registry
from stemlime.builtins.separators import RESIDUAL_WARNING_DB
from stemlime.components import Excerpt
from stemlime.errors import UsageError
from stemlime.residual import stems_residual_db

from conftest import PIECE, STEMS, stemlime_cli


def copy_piece(folder: Path, stems=STEMS, mixture: str = "mixture.wav") -> Path:
    """piece1_16k's stems (and its mixture, named ``mixture``) in ``folder``; returns the mixture's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in stems:
        shutil.copy(PIECE / f"{name}.wav", folder / f"{name}.wav")
    shutil.copy(PIECE / "mixture.wav", folder / mixture)
    return folder / mixture


def separate(spec: str, path: Path, start: float = 1.0, duration: float = 2.0):
    """(stems, separator) for the excerpt of ``path``, as the pipeline asks for it."""
    separator = get_registry().build("separator", spec)
    mix, rate = stemlime.load_audio(path, 16000, start, duration)
    return separator.separate(mix, rate, excerpt=Excerpt(str(path), start, duration)), separator


@contextlib.contextmanager
def no_warnings():
    """A context in which any warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------- which folder, which files


def test_an_input_not_named_mixture_or_mix_gets_no_default_stem_folder(tmp_path):
    song = copy_piece(tmp_path, stems=(), mixture="song.wav")
    shutil.copy(PIECE / "vocals.wav", tmp_path / "another_song.wav")
    with pytest.raises(UsageError, match=r"song\.wav is not named mixture\.\* or mix\.\*.*give dir=FOLDER"):
        separate("oracle", song)


def test_explaining_a_song_in_a_folder_of_songs_exits_with_status_2(tmp_path):
    song = copy_piece(tmp_path, stems=("bass", "drums"), mixture="song.wav")
    result = stemlime_cli("separate", str(song), "--separator", "oracle", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "give dir=FOLDER" in result.stderr and not (tmp_path / "out").exists()


def test_a_song_with_dir_given_takes_the_stems_from_that_folder(tmp_path):
    copy_piece(tmp_path / "stems")
    song = shutil.copy(PIECE / "mixture.wav", tmp_path / "song.wav")
    stems, separator = separate(f"oracle,dir={tmp_path / 'stems'}", Path(song))
    assert sorted(stems) == list(STEMS)
    assert separator.last_residual_db > 100


def test_a_mixture_named_input_takes_its_siblings_as_stems_musdb_style(tmp_path):
    stems, separator = separate("oracle", copy_piece(tmp_path))
    original, _ = soundfile.read(PIECE / "vocals.wav", dtype="float32")
    assert sorted(stems) == list(STEMS)
    assert np.array_equal(stems["vocals"], original[16000:48000])


def test_a_slakh_track_takes_its_stems_from_the_stems_subfolder_named_snn(tmp_path):
    track = tmp_path / "Track00001"
    (track / "stems").mkdir(parents=True)
    mix = track / "mix.flac"
    soundfile.write(mix, soundfile.read(PIECE / "mixture.wav", dtype="float32")[0], 16000)
    for number, name in enumerate(STEMS):
        soundfile.write(track / "stems" / f"S{number:02d}.flac", soundfile.read(PIECE / f"{name}.wav", dtype="float32")[0], 16000)
    (track / "metadata.yaml").write_text("stems:\n  S00:\n    inst_class: Bass\n")
    stems, separator = separate("oracle", mix)
    assert sorted(stems) == ["S00", "S01", "S02", "S03", "S04"]
    assert separator.last_residual_db > 60  # 16-bit FLAC stems of a 16-bit FLAC mix


def test_an_empty_dir_option_is_a_usage_error_not_the_current_folder():
    with pytest.raises(UsageError, match="dir= is empty; give dir=FOLDER"):
        get_registry().build("separator", "oracle,dir=")


def test_two_files_with_one_stem_name_are_a_usage_error_naming_both(tmp_path):
    mixture = copy_piece(tmp_path)
    soundfile.write(tmp_path / "bass.flac", soundfile.read(PIECE / "bass.wav", dtype="float32")[0], 16000)
    with pytest.raises(UsageError, match=r"bass\.flac and bass\.wav .* would both be stem 'bass'"):
        separate("oracle", mixture)


def test_hidden_files_and_macos_resource_forks_are_not_stems(tmp_path):
    mixture = copy_piece(tmp_path)
    shutil.copy(PIECE / "vocals.wav", tmp_path / ".x.wav")
    (tmp_path / "._vocals.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    stems, _ = separate("oracle", mixture)
    assert sorted(stems) == list(STEMS)


def test_the_input_and_mixture_and_mix_files_are_never_stems(tmp_path):
    copy_piece(tmp_path)
    for name in ("mix.flac", "mixture_44k.wav"):
        shutil.copy(PIECE / "mixture.wav", tmp_path / name)
    song = Path(shutil.copy(PIECE / "mixture.wav", tmp_path / "song.wav"))
    stems, _ = separate(f"oracle,dir={tmp_path}", song)
    assert sorted(stems) == list(STEMS)


# ---------------------------------------------------------------- how well the stems add up


def test_stems_residual_db_is_the_mix_to_difference_energy_ratio_in_db():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 16000)).astype(np.float32)
    mix = a + 0.1 * b
    expected = 10 * np.log10(np.sum(mix.astype(np.float64) ** 2) / np.sum((0.1 * b.astype(np.float64)) ** 2))
    assert stems_residual_db(mix, {"a": a}) == pytest.approx(expected)
    assert stems_residual_db(mix, {"a": a, "b": 0.1 * b.astype(np.float64)}) > 100
    assert stems_residual_db(np.ones(4), {"a": np.ones(4)}) == float("inf")
    assert stems_residual_db(mix, {}) == 0.0


def test_stems_that_add_up_to_the_mix_do_not_warn(tmp_path):
    with no_warnings():
        _, separator = separate("oracle", copy_piece(tmp_path))
    assert separator.last_residual_db > 100  # float WAV stems that sum to the mix exactly


def test_a_missing_stem_warns_with_the_residual_and_how_to_explain_it(tmp_path):
    mixture = copy_piece(tmp_path, stems=("bass", "drums", "guitar", "vocals"))  # no piano
    with pytest.warns(UserWarning, match=r"oracle stems in .* add up to the mix only to 1\d\.\d dB .*add rest=true") as caught:
        stems, separator = separate("oracle", mixture)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    mix, _ = stemlime.load_audio(mixture, 16000, 1.0, 2.0)
    assert separator.last_residual_db == pytest.approx(stems_residual_db(mix, stems))
    assert separator.last_residual_db < RESIDUAL_WARNING_DB


def test_rest_true_adds_the_difference_as_a_rest_stem_without_warning(tmp_path):
    mixture = copy_piece(tmp_path, stems=("bass", "drums", "guitar", "vocals"))
    with no_warnings():
        stems, separator = separate("oracle,rest=true", mixture)
    mix, _ = stemlime.load_audio(mixture, 16000, 1.0, 2.0)
    piano, _ = stemlime.load_audio(PIECE / "piano.wav", 16000, 1.0, 2.0)
    assert list(stems) == ["bass", "drums", "guitar", "vocals", "rest"]
    np.testing.assert_allclose(stems["rest"], piano, atol=1e-6)
    assert stems_residual_db(mix, stems) > 100
    assert separator.last_residual_db < RESIDUAL_WARNING_DB  # measured on the folder's stems, before the rest


def test_a_stem_file_named_rest_conflicts_with_rest_true(tmp_path):
    mixture = copy_piece(tmp_path)
    shutil.copy(PIECE / "piano.wav", tmp_path / "rest.wav")
    with pytest.raises(UsageError, match="already a stem named 'rest'"):
        separate("oracle,rest=true", mixture)


def test_an_array_explained_against_unrelated_stems_warns(tmp_path):
    copy_piece(tmp_path / "stems")
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, 48000).astype(np.float32)
    separator = get_registry().build("separator", f"oracle,dir={tmp_path / 'stems'}")
    with pytest.warns(UserWarning, match=r"add up to the mix only to -?\d+\.\d dB"):
        separator.separate(noise, 16000, excerpt=Excerpt(None, 0.0, 3.0))
    assert separator.last_residual_db < 1
