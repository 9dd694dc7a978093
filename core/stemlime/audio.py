"""Audio in and out: reading excerpts, resampling, checking, writing WAV files.

All waveforms are float32 numpy arrays; mono is 1-D ``(samples,)``, multichannel is
``(samples, channels)``. Times are in seconds, rates in Hz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from .errors import AudioError

RESAMPLER = "soxr_hq"  # the resampler musicnn's and audioLIME's librosa.load used


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the first (time) axis with librosa's soxr_hq; float32 out."""
    audio = np.asarray(audio, dtype=np.float32)
    if int(source_rate) == int(target_rate):
        return audio
    import librosa

    out = librosa.resample(audio.T, orig_sr=source_rate, target_sr=target_rate, res_type=RESAMPLER, axis=-1).T
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


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """(sample rate in Hz, channels, duration in seconds) of an audio file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {path} does not exist")
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile's message says what is wrong
        raise AudioError(f"cannot read {path} as audio ({error}). Supported: WAV, FLAC, OGG/Vorbis, MP3 (libsndfile)") from None
    return info.samplerate, info.channels, info.frames / info.samplerate


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
    path : an audio file libsndfile reads (WAV, FLAC, OGG, MP3).
    sample_rate : resample to this rate in Hz (None: keep the file's rate).
    start : excerpt start in seconds.
    duration : excerpt length in seconds (None: to the end of the file).
    mono : average the channels.

    Returns
    -------
    (audio, sample_rate): float32 ``(samples,)`` if mono else ``(samples, channels)``.
    """
    path = Path(path)
    native_rate, _, total = audio_info(path)
    if start < 0 or (duration is not None and duration <= 0):
        raise AudioError(f"excerpt start={start} s, duration={duration} s of {path}: start must be >= 0 and duration > 0")
    if start >= total:
        raise AudioError(f"excerpt starts at {start} s but {path} is only {total:.3f} s long")
    if duration is not None and start + duration > total + 1e-6:
        raise AudioError(
            f"excerpt {start}-{start + duration} s runs past the end of {path} ({total:.3f} s long); "
            f"choose start + duration <= {total:.3f}"
        )
    first = int(round(start * native_rate))
    frames = -1 if duration is None else int(round(duration * native_rate))
    try:
        audio, _ = soundfile.read(str(path), start=first, frames=frames, dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioError(f"cannot read {path} ({error})") from None
    if len(audio) == 0:
        raise AudioError(f"{path} holds no samples in the excerpt {start} s + {duration} s")
    check_finite(audio, str(path))
    audio = to_mono(audio) if mono else audio
    if sample_rate is not None:
        audio = resample(audio, native_rate, sample_rate)
    return audio, int(sample_rate or native_rate)


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim or zero-pad along time to exactly ``n_samples``."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    pad = [(0, n_samples - len(audio))] + [(0, 0)] * (audio.ndim - 1)
    return np.pad(audio, pad)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float32 WAV (lossless, no clipping), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.asarray(audio, dtype=np.float32), int(sample_rate), subtype="FLOAT")
    return path
