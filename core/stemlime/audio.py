"""Audio in and out: reading excerpts, resampling, checking, writing WAV files.

All waveforms are float32 numpy arrays; mono is 1-D ``(samples,)``, multichannel is
``(samples, channels)``. Times are in seconds, rates in Hz.
"""

from __future__ import annotations

import math
import numbers
import warnings
from pathlib import Path

import numpy as np
import soundfile

from . import stemfile
from .errors import AudioError, ExcerptError, UsageError


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample ``(samples,)`` or ``(samples, channels)`` audio along time from ``source_rate``
    to ``target_rate`` Hz with soxr's high quality ("HQ"); float32 out.

    Bit for bit what ``librosa.resample(audio.T, orig_sr=..., target_sr=..., res_type="soxr_hq").T``
    gives (the resampler of musicnn's and audioLIME's ``librosa.load``): soxr resamples every
    channel, then the result is cut or zero-padded to ``ceil(samples * target_rate / source_rate)``
    samples, as librosa's ``fix_length`` does. soxr is called directly because importing librosa
    costs about a second.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if int(source_rate) == int(target_rate):
        return audio
    import soxr

    check_finite(audio, "the audio to resample")
    n_out = int(np.ceil(audio.shape[0] * (float(target_rate) / source_rate)))
    out = soxr.resample(np.ascontiguousarray(audio), source_rate, target_rate, quality="HQ")
    if out.shape[0] > n_out:
        out = out[:n_out]
    elif out.shape[0] < n_out:
        out = np.concatenate([out, np.zeros((n_out - out.shape[0],) + out.shape[1:], dtype=out.dtype)])
    return np.ascontiguousarray(out, dtype=np.float32)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of ``(samples, channels)`` audio; 1-D audio is returned as it is."""
    audio = np.asarray(audio, dtype=np.float32)
    return audio if audio.ndim == 1 else audio.mean(axis=1, dtype=np.float32)


def check_finite(audio: np.ndarray, what: str) -> np.ndarray:
    """Refuse audio holding NaN or infinite samples."""
    bad = ~np.isfinite(audio)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise AudioError(f"{what} holds {int(bad.sum())} NaN or infinite sample(s) (first at sample {first}); clean the audio first")
    return audio


TRUNCATION_TOLERANCE_SECONDS = 0.01  # decoders may end a few ms off the header's count; a cut file loses whole frames


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """(sample rate in Hz, channels, duration in seconds) of an audio file, as its header says.

    The duration is the header's frame count: a truncated MP3 says the length it was encoded
    with, not what decodes. :func:`decoded_duration` decodes the file to find out.
    """
    from .fs import file_problem

    problem = file_problem(path, "audio file")
    if problem:
        raise AudioError(problem)
    path = Path(path)
    if stemfile.is_stem_file(path):  # a .stem.mp4: its mixture, stream 0
        stem_info = stemfile.probe(path)
        return stem_info.sample_rate, stem_info.channels, stem_info.duration
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile's message says what is wrong
        raise AudioError(f"cannot read {path} as audio ({error}). Supported: WAV, FLAC, OGG/Vorbis, MP3 (libsndfile)") from None
    return info.samplerate, info.channels, info.frames / info.samplerate


def decoded_duration(path: str | Path) -> float:
    """Seconds of audio that actually decode from ``path`` (reads the whole file, block by block).

    Equal to :func:`audio_info`'s duration for an intact file; shorter for a truncated one.
    """
    path = Path(path)
    rate, _, _ = audio_info(path)
    if stemfile.is_stem_file(path):
        return len(stemfile.decode(path, 0)[0]) / rate
    frames = 0
    try:
        with soundfile.SoundFile(str(path)) as sound:
            while True:
                block = sound.read(1 << 16, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                frames += len(block)
    except Exception as error:
        raise AudioError(f"cannot decode {path} ({error})") from None
    return frames / rate


def _warn_if_truncated(path: Path, start: float, duration: float | None, decoded: float, header_total: float) -> None:
    """Warn when fewer seconds decoded than the header (and the excerpt) promised.

    ``decoded`` is the excerpt's decoded length and ``header_total`` the header's duration, in seconds.
    """
    promised = header_total - start if duration is None else min(duration, header_total - start)
    if promised - decoded <= TRUNCATION_TOLERANCE_SECONDS:
        return
    decoded_end = start + decoded
    if duration is None:
        message = (
            f"{path} decodes to {decoded_end:.3f} s but its header says {header_total:.3f} s: the file is truncated "
            f"(or its header is wrong); using the {decoded:.3f} s from {start:g} s that decode"
        )
    else:
        message = (
            f"{path} decodes to {decoded_end:.3f} s but its header says {header_total:.3f} s: the file is truncated, "
            f"so the excerpt {start:g}-{start + duration:g} s holds only {decoded:.3f} s"
        )
    warnings.warn(message, stacklevel=3)


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    start: float = 0.0,
    duration: float | None = None,
    mono: bool = True,
) -> tuple[np.ndarray, int]:
    """Read an excerpt of an audio file.

    Parameters
    ----------
    path : an audio file libsndfile reads (WAV, FLAC, OGG, MP3), or a ``.stem.mp4`` stem
        file (its mixture, stream 0, decoded by ffmpeg: see :mod:`stemlime.stemfile`).
    sample_rate : resample to this rate in Hz (None: keep the file's rate).
    start : excerpt start in seconds.
    duration : excerpt length in seconds (None: to the end of the file).
    mono : average the channels.

    Returns
    -------
    (audio, sample_rate): float32 ``(samples,)`` if mono else ``(samples, channels)``.

    The audio is what decoded: for a truncated file it is shorter than the header (and
    ``duration``) promised, and a warning says so. The excerpt's true length in seconds is
    ``len(audio) / sample_rate``.
    """
    path = Path(path)
    native_rate, _, total = audio_info(path)
    if start < 0 or (duration is not None and duration <= 0):
        raise AudioError(f"excerpt start={start} s, duration={duration} s of {path}: start must be >= 0 and duration > 0")
    if total == 0:
        raise AudioError(f"{path} holds no audio (0 samples); give a file with sound in it")
    if start >= total:
        raise ExcerptError(
            f"excerpt start={start:g} s is past the end of {path} ({total:.3f} s long); choose a start before {total:.3f} s (--start)"
        )
    if duration is not None and start + duration > total + 1e-6:
        raise ExcerptError(
            f"excerpt {start:g}-{start + duration:g} s runs past the end of {path} ({total:.3f} s long); "
            f"choose start + duration <= {total:.3f} s (--start, --duration)"
        )
    first = int(round(start * native_rate))
    frames = -1 if duration is None else int(round(duration * native_rate))
    if frames == 0:
        raise ExcerptError(
            f"an excerpt of {duration:g} s of {path} is shorter than one sample at {native_rate} Hz; choose a longer --duration"
        )
    if stemfile.is_stem_file(path):
        audio = stemfile.decode(path, 0, start, duration)[0]
        audio = audio[:frames] if frames >= 0 else audio
    else:
        try:
            audio, _ = soundfile.read(str(path), start=first, frames=frames, dtype="float32", always_2d=True)
        except Exception as error:
            raise AudioError(f"cannot read {path} ({error})") from None
    if len(audio) == 0:
        raise AudioError(
            f"{path} holds no samples from {start} s on, although its header says {total:.3f} s: "
            "the file is truncated; choose an earlier start or repair the file"
        )
    _warn_if_truncated(path, start, duration, len(audio) / native_rate, total)
    check_finite(audio, str(path))
    audio = to_mono(audio) if mono else audio
    if sample_rate is not None:
        audio = resample(audio, native_rate, sample_rate)
    return audio, int(sample_rate or native_rate)


def as_sample_rate(sample_rate: object) -> int:
    """A sample rate in Hz as a positive int.

    Refuses (UsageError) zero, negative, NaN, infinite and fractional rates, bools and
    non-numbers; a whole float such as ``16000.0`` is accepted.
    """
    if isinstance(sample_rate, (bool, np.bool_)) or not isinstance(sample_rate, numbers.Real):
        raise UsageError(f"sample_rate={sample_rate!r} is not a number: give the audio's sample rate in Hz, e.g. sample_rate=16000")
    if not math.isfinite(sample_rate) or sample_rate <= 0 or sample_rate != int(sample_rate):  # type: ignore[call-overload]
        raise UsageError(f"sample_rate={sample_rate!r} is not a positive whole number of Hz: give e.g. sample_rate=16000")
    return int(sample_rate)  # type: ignore[call-overload]  # a finite whole Real


def _samples_as_float(array: np.ndarray) -> np.ndarray:
    """float32 samples: floats as they are, 8/16/32-bit integers scaled to [-1, 1)."""
    kind, bits = array.dtype.kind, array.dtype.itemsize * 8
    if kind == "f":
        return array.astype(np.float32)
    if kind in "iu" and bits <= 32:
        full_scale = 2.0 ** (bits - 1)  # int16: 32768, int32: 2^31
        centre = full_scale if kind == "u" else 0.0  # unsigned PCM (uint8 WAV) is centred at 128
        return ((array.astype(np.float64) - centre) / full_scale).astype(np.float32)
    if kind in "iu":
        raise UsageError(
            f"{array.dtype} samples have no agreed full scale: convert them to float32 in [-1, 1] "
            "(e.g. audio / 32768 for 16-bit values) or to int16/int32 first"
        )
    if kind == "c":
        raise UsageError(f"the audio array is complex ({array.dtype}): stemlime takes a real waveform, not a spectrum")
    if kind == "b":
        raise UsageError("the audio array is bool: stemlime takes samples as float32 in [-1, 1] (or int16/int32)")
    raise UsageError(f"the audio array's dtype {array.dtype} is not audio: pass samples as float32 in [-1, 1] (or int16/int32)")


def _check_layout(array: np.ndarray) -> None:
    """Refuse shapes other than (samples,) and (samples, channels), and empty arrays.

    A 2-D array with more channels than samples is taken for channels-first audio: no real
    recording has more channels than samples.
    """
    if array.ndim not in (1, 2):
        raise UsageError(f"got shape {array.shape}: stemlime takes (samples,) or (samples, channels); explain one waveform at a time")
    if array.size == 0:
        raise AudioError(f"the audio array is empty (shape {array.shape}): give at least one sample")
    if array.ndim == 2 and array.shape[1] > array.shape[0]:
        batch_hint = " (or, for a batch of waveforms, one waveform at a time)" if array.shape[0] > 8 else ""
        raise UsageError(f"got shape {array.shape}: stemlime takes (samples, channels); pass audio.T{batch_hint}")


def as_mix(audio: object, sample_rate: object) -> np.ndarray:
    """Validate audio given as an array and return it as a mix: mono float32 ``(samples,)``.

    ``audio`` is ``(samples,)`` or ``(samples, channels)`` (channels are averaged); float
    samples are kept as they are, int8/int16/int32 are scaled by 2^(bits-1) to [-1, 1) and
    uint8/uint16/uint32 centred first (uint8 WAV: (x - 128) / 128). ``sample_rate`` in Hz is
    checked with :func:`as_sample_rate`. Raises UsageError for a bad rate, dtype (bool,
    complex, object, str, 64-bit integers) or shape (channels-first, 3-D), and AudioError for
    an empty array or NaN/inf samples.
    """
    as_sample_rate(sample_rate)
    try:
        array = np.asarray(audio)
    except (ValueError, TypeError) as error:
        raise UsageError(f"cannot read the audio as an array ({error}): pass a numpy array of samples") from None
    samples = _samples_as_float(array)
    _check_layout(samples)
    return np.ascontiguousarray(check_finite(to_mono(samples), "the audio array"))


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim or zero-pad along time to exactly ``n_samples``."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    pad = [(0, n_samples - len(audio))] + [(0, 0)] * (audio.ndim - 1)
    return np.pad(audio, pad)


WAV_SUBTYPE = "FLOAT"  # 32-bit float samples: lossless, no clipping


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float32 WAV (lossless, no clipping), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.asarray(audio, dtype=np.float32), int(sample_rate), subtype=WAV_SUBTYPE)
    return path


def wav_bytes(audio: np.ndarray, sample_rate: int, subtype: str = WAV_SUBTYPE) -> bytes:
    """The bytes of a WAV file of ``audio`` (for pages and notebooks that embed audio): what
    :func:`write_wav` writes, or another libsndfile ``subtype`` such as ``PCM_16``."""
    import io

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(audio, dtype=np.float32), int(sample_rate), subtype=subtype, format="WAV")
    return buffer.getvalue()
