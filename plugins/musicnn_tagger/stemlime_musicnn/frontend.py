"""musicnn's audio front end: log-compressed mel spectrogram and patch cutting, numpy only.

Reproduces ``musicnn.extractor.batch_data`` (musicnn 0.1.0) bit for bit, without librosa:

1. power mel spectrogram as ``librosa.feature.melspectrogram`` computes it (sr 16 kHz,
   512-sample FFT, 256-sample hop, 96 mel bands, periodic Hann window, centred frames with
   zero padding, Slaney mel scale and Slaney area normalisation, power 2). The arithmetic is
   librosa's, step by step: the float32 frames times the float64 window, a float64 real FFT
   rounded to complex64, ``|X| ** 2`` in float32, and the float32 mel filterbank applied with
   the same ``np.einsum`` call (the same BLAS product, so the same rounding);
2. a cast to **float16** (the models were trained on spectrograms stored as float16; the
   cast rounds the mel energies and flushes the smallest ones to zero, and the taggram
   only matches the original within 1e-4 when it is reproduced);
3. ``log10(10000 * x + 1)`` computed in **float32** on the float16-rounded values. (The
   original relied on numpy 1.x value-based casting: ``10000 * float16_array`` promotes
   to float32 because 10000 needs uint16. Under numpy 2 (NEP 50) the same expression
   stays float16 and overflows to inf for mel energies above 6.55, which is common in
   ordinary music, so the promotion is made explicit here);
4. non-overlapping (by default) patches of 187 frames (3 s); frames after the last full
   patch are dropped.

The mel product stays on numpy's BLAS with its default threads, like librosa's: OpenBLAS
rounds the same product differently with a different number of threads (in the last float32
bit, for some band/frame pairs, and a few of those flip a float16 rounding step, up to 4e-4
in the log-mel), so fewer threads would trade agreement with librosa for a millisecond.
"""

from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE = 16000
"""Sample rate the models expect, in Hz."""
N_FFT = 512
"""FFT (and Hann window) length, in samples (32 ms)."""
HOP = 256
"""Hop between frames, in samples (16 ms)."""
N_MELS = 96
"""Number of mel bands."""
PATCH_FRAMES = 187
"""Frames per model input patch (3 s: ``librosa.time_to_frames(3, sr=16000, n_fft=512,
hop_length=256) + 1``)."""


def n_frames(n_samples: int) -> int:
    """Number of spectrogram frames for ``n_samples`` samples (centred frames):
    ``1 + n_samples // HOP``."""
    return 1 + int(n_samples) // HOP


def seconds_to_frames(seconds: float) -> int:
    """Frame index of a time, as ``librosa.time_to_frames(seconds, sr=16000, n_fft=512,
    hop_length=256)``: ``floor((int(seconds * 16000) - 256) / 256)`` (may be negative)."""
    samples = int(np.float64(seconds) * SAMPLE_RATE)  # truncation toward zero, like .astype(int)
    return (samples - N_FFT // 2) // HOP


# --------------------------------------------------------------------------------------
# Window and mel filterbank (librosa's and scipy's formulas, in float64)
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def hann_window(length: int = N_FFT) -> np.ndarray:
    """Periodic ("DFT-even") Hann window of ``length`` samples, float64, as
    ``scipy.signal.get_window("hann", length, fftbins=True)``: ``0.5 + 0.5 cos(phi)`` on
    ``length + 1`` points ``phi`` from -pi to pi, the last point dropped. Read-only."""
    phi = np.linspace(-np.pi, np.pi, length + 1)
    window = (0.5 + 0.5 * np.cos(phi))[:-1]
    window.flags.writeable = False
    return window


def hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz
    (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4). Hz in, mels out (1-D)."""
    frequencies = np.atleast_1d(np.asarray(frequencies, dtype=np.float64))
    mels = frequencies / (200.0 / 3)
    log_region = frequencies >= 1000.0
    mels[log_region] = 1000.0 / (200.0 / 3) + np.log(frequencies[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`: mels in, Hz out (1-D)."""
    mels = np.atleast_1d(np.asarray(mels, dtype=np.float64))
    hz = (200.0 / 3) * mels
    min_log_mel = 1000.0 / (200.0 / 3)
    log_region = mels >= min_log_mel
    hz[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mels[log_region] - min_log_mel))
    return hz


@functools.lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-normalised triangular mel filters, float32 ``(n_mels, 1 + n_fft // 2)``, equal to
    ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)`` (fmin 0, fmax
    sample_rate / 2, Slaney scale and area normalisation). Row ``m`` weights the FFT bins
    (spaced ``sample_rate / n_fft`` Hz) that band ``m`` collects. Read-only; built once."""
    fft_hz = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)  # (n_fft // 2 + 1,) bin centres
    lowest, highest = hz_to_mel([0.0, sample_rate / 2.0])
    edges_hz = mel_to_hz(np.linspace(lowest, highest, n_mels + 2))  # (n_mels + 2,) band edges and centres
    widths = np.diff(edges_hz)  # (n_mels + 1,)
    ramps = np.subtract.outer(edges_hz, fft_hz)  # (n_mels + 2, bins): edge minus bin, Hz
    weights = np.zeros((n_mels, len(fft_hz)), dtype=np.float32)
    for m in range(n_mels):
        rising = -ramps[m] / widths[m]
        falling = ramps[m + 2] / widths[m + 1]
        weights[m] = np.maximum(0, np.minimum(rising, falling))  # float64 rounded to float32
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, np.newaxis]  # area normalisation
    weights.flags.writeable = False
    return weights


# --------------------------------------------------------------------------------------
# Spectrogram
# --------------------------------------------------------------------------------------


def power_spectrogram(audio: np.ndarray) -> np.ndarray:
    """``|STFT|**2`` of a float32 waveform as librosa computes it (centred, zero-padded).

    Returns float32 ``(1 + n_fft // 2, frames)`` in Fortran order (a transposed
    ``(frames, bins)`` array), the layout of librosa's STFT matrix, which decides the BLAS
    call, and so the rounding, of the mel product that follows.
    """
    padded = np.pad(audio, N_FFT // 2)  # (n_samples + 512,) zeros around, centred frames
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]  # (frames, 512) view
    spectrum = np.fft.rfft(hann_window() * frames, axis=-1).astype(np.complex64)  # float64 FFT, rounded
    return (np.abs(spectrum) ** 2.0).T  # (257, frames)


def mel_spectrogram(audio: np.ndarray) -> np.ndarray:
    """Power mel spectrogram, float32 ``(96, frames)``, equal to
    ``librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=512, hop_length=256, n_mels=96)``."""
    return np.einsum("...ft,mf->...mt", power_spectrogram(audio), mel_filterbank(), optimize=True)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Log-mel spectrogram exactly as musicnn computes it.

    Parameters
    ----------
    audio:
        Mono waveform at 16 kHz (``SAMPLE_RATE``), shape ``(n_samples,)``, float in
        [-1, 1] (e.g. a 16-bit WAV read as float32, as ``librosa.load`` does). Other
        float dtypes are converted to float32 first, like librosa.load's output.

    Returns
    -------
    np.ndarray
        float32 array of shape ``(1 + n_samples // 256, 96)``: time frames (16 ms hop)
        by mel bands (low to high), values ``log10(10000 * mel_power + 1)`` (float32
        arithmetic) where ``mel_power`` was first rounded to float16.
    """
    y = np.asarray(audio)
    if y.ndim != 1:
        raise ValueError(f"log_mel expects a mono 1-D waveform, got shape {y.shape}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    mel = mel_spectrogram(y).T  # (frames, 96)
    mel16 = mel.astype(np.float16)  # musicnn's float16 cast (rounding + underflow)
    # numpy-1.x promotion of the original: float16 -> float32, then float32 arithmetic
    mel32 = mel16.astype(np.float32)
    out = np.log10(np.float32(10000) * mel32 + np.float32(1))
    return out.astype(np.float32, copy=False)


def cut_patches(log_mel: np.ndarray, patch_frames: int = PATCH_FRAMES, hop_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Cut a ``(frames, n_mels)`` spectrogram into model input patches (musicnn's rule).

    Patches start at frames ``0, hop_frames, 2 * hop_frames, ...`` while a full patch
    fits: ``n_patches = (frames - patch_frames) // hop_frames + 1``. Frames after the
    last full patch are dropped (no padding). ``hop_frames = patch_frames`` gives
    musicnn's ``input_overlap=False``.

    Parameters
    ----------
    log_mel:
        ``(frames, n_mels)`` spectrogram (e.g. from :func:`log_mel`), 16 ms per frame.
    patch_frames:
        Frames per patch (187 = 3 s).
    hop_frames:
        Frames between the starts of consecutive patches.

    Returns
    -------
    np.ndarray
        ``(n_patches, patch_frames, n_mels)`` copy, same dtype as the input.

    Raises
    ------
    ValueError
        If the spectrogram is shorter than one patch (the original crashes there), or
        the arguments are not positive.
    """
    spec = np.asarray(log_mel)
    if spec.ndim != 2:
        raise ValueError(f"cut_patches expects a (frames, n_mels) array, got shape {spec.shape}")
    if patch_frames <= 0 or hop_frames <= 0:
        raise ValueError("patch_frames and hop_frames must be positive")
    total = spec.shape[0]
    if total < patch_frames:
        raise ValueError(
            f"spectrogram has {total} frames, fewer than one patch of {patch_frames} "
            f"frames (at least {(patch_frames - 1) * HOP} samples = "
            f"{(patch_frames - 1) * HOP / SAMPLE_RATE:.3f} s of 16 kHz audio are needed)"
        )
    windows = np.lib.stride_tricks.sliding_window_view(spec, patch_frames, axis=0)  # (total - patch + 1, n_mels, patch)
    return np.ascontiguousarray(windows[::hop_frames].transpose(0, 2, 1))
