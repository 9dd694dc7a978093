"""musicnn's log-mel front end on a torch device, for batches of waveforms on a GPU.

:mod:`stemlime_musicnn.frontend` computes the log-mel spectrogram in numpy, bit for bit as
musicnn 0.1.0 (librosa) does, at about 1 ms of one CPU core per 3-s input: fine next to the
network on a CPU, but some 50 times slower than the network on a GPU. This module computes
the same steps for a whole batch on the network's device, in float32:

1. ``|STFT|**2`` with ``torch.stft`` (512-sample periodic Hann window, 256-sample hop, centred
   frames with zero padding, as librosa);
2. the same float32 mel filterbank (:func:`frontend.mel_filterbank`), as one batched product;
3. musicnn's cast to float16, then ``log10(10000 * x + 1)`` in float32.

It is not bit-identical to the numpy front end: the FFT runs in float32 (numpy's in float64),
which moves some mel energies across a float16 rounding step; on real music the log-mel
values then differ by at most about 1e-3, and the tag probabilities by about 1e-5
(``tests/test_musicnn_fast.py``). The CPU path keeps the exact numpy front end.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .frontend import HOP, N_FFT, N_MELS, PATCH_FRAMES, mel_filterbank

__all__ = ["log_mel_batch", "patches_batch"]


@functools.lru_cache(maxsize=8)
def _constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(Hann window (512,), mel filterbank (96, 257)) as float32 tensors on ``device``."""
    window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float64).float().to(device)
    return window, torch.from_numpy(np.array(mel_filterbank())).to(device)


def log_mel_batch(audio: torch.Tensor) -> torch.Tensor:
    """(B, samples) float32 mono 16-kHz waveforms on any device -> (B, 1 + samples // 256, 96)
    float32 log-mel spectrograms on the same device (frames of 16 ms by mel bands, low to high)."""
    if audio.dim() != 2:
        raise ValueError(f"log_mel_batch expects (batch, samples) waveforms, got shape {tuple(audio.shape)}")
    window, filterbank = _constants(audio.device)
    spectrum = torch.stft(
        audio.float(), N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True
    )  # (B, 257, frames)
    power = spectrum.real.square() + spectrum.imag.square()
    mel = torch.matmul(filterbank, power)  # (B, 96, frames)
    mel = mel.to(torch.float16).float()  # musicnn's float16 storage: rounding and underflow
    return torch.log10(mel.mul_(10000.0).add_(1.0)).transpose(1, 2)  # (B, frames, 96)


def patches_batch(audio: torch.Tensor, hop_frames: int = PATCH_FRAMES) -> torch.Tensor:
    """(B, samples) waveforms of one length -> (B * P, 187, 96) patches on their device, the P
    patches of each input in order (musicnn's rule, as :func:`frontend.cut_patches`)."""
    spectrogram = log_mel_batch(audio)  # (B, frames, 96)
    frames = spectrogram.shape[1]
    if frames < PATCH_FRAMES:
        raise ValueError(f"{frames} frames, fewer than one patch of {PATCH_FRAMES}")
    windows = spectrogram.unfold(1, PATCH_FRAMES, hop_frames)  # (B, P, 96, 187)
    return windows.transpose(2, 3).reshape(-1, PATCH_FRAMES, N_MELS).contiguous()
