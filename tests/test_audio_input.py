"""Audio input: a truncated file reports what decodes, and arrays are checked where they enter."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from stemlime.audio import as_mix, as_sample_rate, audio_info, decoded_duration, load_audio
from stemlime.errors import AudioError, UsageError

from conftest import PIECE

RATE = 16000


def piece_mixture() -> np.ndarray:
    return soundfile.read(PIECE / "mixture.wav", dtype="float32")[0]


def write_mp3(path: Path, audio: np.ndarray, rate: int) -> Path:
    """Encode ``audio`` as MP3 with libsndfile (>= 1.1), else ffmpeg or lame; skip the test if none can."""
    if "MP3" in soundfile.available_formats():
        soundfile.write(path, audio, rate, format="MP3")
        return path
    wav = path.with_suffix(".wav")
    soundfile.write(wav, audio, rate)
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), str(path)], check=True)
    elif shutil.which("lame"):
        subprocess.run(["lame", "--quiet", str(wav), str(path)], check=True)
    else:
        pytest.skip("cannot write MP3: libsndfile < 1.1 and neither ffmpeg nor lame is installed")
    if "MP3" not in soundfile.available_formats():
        pytest.skip("libsndfile < 1.1 cannot read MP3")
    return path


@pytest.fixture
def truncated_mp3(tmp_path) -> Path:
    """piece1_16k's mixture three times over (12 s) as MP3, cut to its first half of bytes."""
    whole = write_mp3(tmp_path / "whole.mp3", np.tile(piece_mixture(), 3), RATE)
    cut = tmp_path / "cut.mp3"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


# ---------------------------------------------------------------- truncated files


def test_a_truncated_mp3_loads_what_decodes_and_warns_with_both_durations(truncated_mp3):
    with pytest.warns(UserWarning, match=r"cut\.mp3 decodes to \d\.\d{3} s but its header says 12\.000 s: the file is truncated") as caught:
        audio, rate = load_audio(truncated_mp3)
    assert len(caught) == 1
    assert audio_info(truncated_mp3)[2] == pytest.approx(12.0)  # the header's word
    assert 4.0 < len(audio) / rate < 8.0  # what decoded, about half
    assert len(audio) / rate == pytest.approx(decoded_duration(truncated_mp3))


def test_an_intact_mp3_decodes_to_its_header_duration_without_warning(tmp_path, recwarn):
    whole = write_mp3(tmp_path / "whole.mp3", piece_mixture(), RATE)
    audio, rate = load_audio(whole)
    assert decoded_duration(whole) == pytest.approx(audio_info(whole)[2], abs=0.01)
    assert len(audio) / rate == pytest.approx(4.0, abs=0.01)
    assert not [w for w in recwarn if "truncated" in str(w.message)]


def test_an_excerpt_running_past_the_decoded_end_warns_and_is_as_long_as_what_decodes(truncated_mp3):
    with pytest.warns(UserWarning, match=r"the file is truncated, so the excerpt 5-9 s holds only \d\.\d{3} s"):
        audio, rate = load_audio(truncated_mp3, start=5.0, duration=4.0)
    assert 0 < len(audio) / rate < 3.0


def test_an_excerpt_starting_past_the_decoded_end_is_an_audio_error(truncated_mp3):
    with pytest.raises(AudioError, match=r"holds no samples from 9\.0 s on, although its header says 12\.000 s: the file is truncated"):
        load_audio(truncated_mp3, start=9.0, duration=1.0)


# ---------------------------------------------------------------- arrays at the API boundary


@pytest.mark.parametrize("rate", [0, -16000, float("nan"), float("inf"), 16000.5, "16000", None, True])
def test_a_sample_rate_must_be_a_positive_whole_number_of_hz(rate):
    with pytest.raises(UsageError, match=r"sample_rate=.* give"):
        as_mix(piece_mixture(), rate)


def test_whole_float_and_numpy_integer_rates_are_accepted():
    assert as_sample_rate(16000.0) == 16000 and as_sample_rate(np.int64(22050)) == 22050


def test_float_mono_audio_comes_back_as_the_same_float32_samples():
    mixture = piece_mixture()
    mix = as_mix(mixture.astype(np.float64), RATE)
    assert mix.dtype == np.float32 and mix.shape == mixture.shape and np.array_equal(mix, mixture)


def test_samples_by_channels_audio_is_averaged_to_mono():
    mixture = piece_mixture()
    stereo = np.stack([mixture, 0.5 * mixture], axis=1)  # (samples, 2)
    np.testing.assert_allclose(as_mix(stereo, RATE), 0.75 * mixture, atol=1e-7)


def test_channels_first_audio_is_refused_with_a_hint_to_transpose():
    stereo = np.stack([piece_mixture()] * 2)[:, :48000]  # (2, 48000)
    with pytest.raises(UsageError, match=r"got shape \(2, 48000\): stemlime takes \(samples, channels\); pass audio\.T"):
        as_mix(stereo, RATE)


def test_integer_samples_are_scaled_to_full_scale():
    np.testing.assert_array_equal(as_mix(np.array([-32768, 0, 16384], np.int16), RATE), [-1.0, 0.0, 0.5])
    np.testing.assert_array_equal(as_mix(np.array([-(2**31), 2**30], np.int32), RATE), [-1.0, 0.5])
    np.testing.assert_array_equal(as_mix(np.array([0, 128, 192], np.uint8), RATE), [-1.0, 0.0, 0.5])
    pcm16 = np.round(piece_mixture() * 32767).astype(np.int16)
    np.testing.assert_allclose(as_mix(pcm16, RATE), piece_mixture(), atol=2 / 32768)  # rounding, 32767 vs 32768


def test_64_bit_integer_samples_are_refused_as_having_no_full_scale():
    with pytest.raises(UsageError, match="int64 samples have no agreed full scale"):
        as_mix(np.array([0, 1000, -1000], np.int64), RATE)


@pytest.mark.parametrize("empty", [np.zeros(0, np.float32), np.zeros((0, 2), np.float32)])
def test_empty_audio_is_refused(empty):
    with pytest.raises(AudioError, match="the audio array is empty"):
        as_mix(empty, RATE)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinite_samples_are_refused(bad):
    audio = piece_mixture()
    audio[100] = bad
    with pytest.raises(AudioError, match="NaN or infinite sample.*first at sample 100"):
        as_mix(audio, RATE)


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(100, np.complex64), "complex .* not a spectrum"),
        (np.zeros(100, bool), "bool"),
        (np.array([0.1, None, 0.3], dtype=object), "dtype object is not audio"),
        (np.array(["a", "b"]), "is not audio"),
        (np.zeros((2, 100, 1), np.float32), r"got shape \(2, 100, 1\): stemlime takes \(samples,\) or \(samples, channels\)"),
    ],
)
def test_arrays_that_are_not_waveforms_are_refused_with_what_to_pass(audio, message):
    with pytest.raises(UsageError, match=message):
        as_mix(audio, RATE)
