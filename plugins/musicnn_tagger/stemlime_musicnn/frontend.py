"""musicnn's audio front end: log-compressed mel spectrogram and patch cutting.

Reproduces ``musicnn.extractor.batch_data`` (musicnn 0.1.0) exactly:

1. power mel spectrogram with librosa (sr 16 kHz, 512-sample FFT, 256-sample hop,
   96 mel bands, Hann window, centred frames with zero padding, Slaney mel scale and
   Slaney area normalisation, power 2);
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
"""

from __future__ import annotations

import librosa
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
PATCH_SECONDS = 3.0
"""Nominal duration of one patch, in seconds."""


def n_frames(n_samples: int) -> int:
    """Number of spectrogram frames for ``n_samples`` samples (centred frames):
    ``1 + n_samples // HOP``."""
    return 1 + int(n_samples) // HOP


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
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=None,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=N_MELS,
        htk=False,
        norm="slaney",
    ).T  # (frames, 96)
    mel16 = mel.astype(np.float16)  # musicnn's float16 cast (rounding + underflow)
    # numpy-1.x promotion of the original: float16 -> float32, then float32 arithmetic
    mel32 = mel16.astype(np.float32)
    out = np.log10(np.float32(10000) * mel32 + np.float32(1))
    return out.astype(np.float32, copy=False)


def cut_patches(
    log_mel: np.ndarray, patch_frames: int = PATCH_FRAMES, hop_frames: int = PATCH_FRAMES
) -> np.ndarray:
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
    starts = range(0, total - patch_frames + 1, hop_frames)
    return np.stack([spec[s : s + patch_frames] for s in starts], axis=0)
