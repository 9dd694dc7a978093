"""Short-time Fourier transform and its inverse, matching ``tf.signal`` as spleeter uses it.

Everything is plain torch (``torch.fft``), so it runs on any device the input lives on.

Conventions (identical to ``tf.signal.stft`` / ``tf.signal.inverse_stft``):

- Time runs along the **last** axis of a waveform; any leading axes (e.g. channels) are batch.
- Frame ``i`` covers samples ``[i * frame_step, i * frame_step + frame_length)``; there is no
  centring (no padding at the start). With ``pad_end=True`` the signal is zero-padded at the end
  so that ``ceil(n_samples / frame_step)`` frames are produced (every sample lies in a frame).
- The analysis window is a **periodic** Hann window, ``0.5 - 0.5 cos(2 pi n / N)`` for
  ``n = 0 .. N-1`` (``tf.signal.hann_window(N, periodic=True)``); this is what spleeter passes.
- The FFT length equals ``frame_length`` (a power of two here, as TF's default
  ``fft_length`` = smallest power of two >= ``frame_length``); only the
  ``frame_length // 2 + 1`` non-negative frequencies are kept. The spectrum is not scaled.
- The inverse applies ``irfft`` to each frame, multiplies by the synthesis window and
  overlap-adds. It does *not* normalise by the window overlap: ``tf.signal.inverse_stft`` only
  does that when given ``tf.signal.inverse_stft_window_fn``. Spleeter instead passes the plain
  Hann window and multiplies the result by the constant 2/3 (see
  :data:`SPLEETER_WINDOW_COMPENSATION`): for a periodic Hann window with hop = N/4, the sum of
  squared shifted windows is exactly 3/2 everywhere, so this equals ``inverse_stft_window_fn``
  wherever four frames overlap (everywhere in spleeter's output, whose edges are trimmed).

Units: waveforms in the caller's sample units (spleeter: float32 in [-1, 1] at 44.1 kHz);
frame lengths and steps in samples; spectra are complex with the same units times samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "FRAME_LENGTH",
    "FRAME_STEP",
    "SPLEETER_WINDOW_COMPENSATION",
    "hann_window",
    "frame",
    "stft",
    "overlap_add",
    "inverse_stft",
]

FRAME_LENGTH = 4096
"""Spleeter's STFT frame (= window = FFT) length in samples (92.9 ms at 44.1 kHz)."""
FRAME_STEP = 1024
"""Spleeter's hop between frames in samples (23.2 ms at 44.1 kHz)."""
SPLEETER_WINDOW_COMPENSATION = 2.0 / 3.0
"""Constant spleeter multiplies its inverse STFT by (``WINDOW_COMPENSATION_FACTOR``): the
inverse of the overlap sum of squared periodic Hann windows at hop = frame_length / 4."""


def hann_window(
    frame_length: int,
    *,
    periodic: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Hann window as ``tf.signal.hann_window``: ``0.5 - 0.5 cos(2 pi n / d)``, ``n < frame_length``.

    ``d = frame_length`` when ``periodic`` (spleeter's choice), ``frame_length - 1`` otherwise.
    Computed in float64 and rounded once to ``dtype``.
    """
    if frame_length == 1:
        return torch.ones(1, dtype=dtype, device=device)
    denom = frame_length if periodic else frame_length - 1
    n = torch.arange(frame_length, dtype=torch.float64, device=device)
    return (0.5 - 0.5 * torch.cos(2.0 * math.pi * n / denom)).to(dtype)


def _n_frames(n_samples: int, frame_length: int, frame_step: int, pad_end: bool) -> int:
    if pad_end:
        return -(-n_samples // frame_step)  # ceil
    return max(0, 1 + (n_samples - frame_length) // frame_step)


def frame(signal: torch.Tensor, frame_length: int, frame_step: int, pad_end: bool = False) -> torch.Tensor:
    """Cut ``signal (..., n_samples)`` into frames ``(..., n_frames, frame_length)``.

    As ``tf.signal.frame(..., pad_end=pad_end, pad_value=0)``: with ``pad_end`` the end is
    zero-padded to ``ceil(n_samples / frame_step)`` frames; without it, trailing samples that do
    not fill a whole frame are dropped. The result is a strided view when no padding is needed.
    """
    n_samples = signal.shape[-1]
    n_frames = _n_frames(n_samples, frame_length, frame_step, pad_end)
    needed = (n_frames - 1) * frame_step + frame_length if n_frames > 0 else 0
    if needed > n_samples:
        signal = F.pad(signal, (0, needed - n_samples))
    elif needed < n_samples:
        signal = signal[..., :needed]
    if n_frames == 0:
        return signal.new_zeros(signal.shape[:-1] + (0, frame_length))
    return signal.unfold(-1, frame_length, frame_step)


def stft(
    signal: torch.Tensor,
    frame_length: int = FRAME_LENGTH,
    frame_step: int = FRAME_STEP,
    window: torch.Tensor | None = None,
    pad_end: bool = True,
) -> torch.Tensor:
    """STFT of ``signal (..., n_samples)`` -> complex ``(..., n_frames, frame_length // 2 + 1)``.

    Same as ``tf.signal.stft(signal, frame_length, frame_step, fft_length=frame_length,
    window_fn=periodic hann, pad_end=pad_end)``. ``window`` defaults to the periodic Hann window
    of ``frame_length`` samples (in ``signal``'s dtype and device). No normalisation.
    Requires ``frame_length`` to be the FFT length (a power of two, as in spleeter).
    """
    if frame_length & (frame_length - 1):
        raise ValueError(f"frame_length must be a power of two (TF's fft_length), got {frame_length}")
    if window is None:
        window = hann_window(frame_length, dtype=signal.dtype, device=signal.device)
    frames = frame(signal, frame_length, frame_step, pad_end=pad_end)
    return torch.fft.rfft(frames * window, n=frame_length, dim=-1)


def overlap_add(frames: torch.Tensor, frame_step: int) -> torch.Tensor:
    """Overlap-add ``frames (..., n_frames, frame_length)`` -> ``(..., (n_frames-1)*step + length)``.

    As ``tf.signal.overlap_and_add``: frame ``i`` is added at sample offset ``i * frame_step``.
    """
    *lead, n_frames, frame_length = frames.shape
    out_len = (n_frames - 1) * frame_step + frame_length if n_frames > 0 else 0
    if n_frames == 0:
        return frames.new_zeros(tuple(lead) + (0,))
    flat = frames.reshape(-1, n_frames, frame_length)
    if frame_length % frame_step == 0:
        # Split every frame into k blocks of frame_step samples; block j of frame i lands in
        # output block i + j. k shifted adds instead of a scatter.
        k = frame_length // frame_step
        blocks = flat.reshape(flat.shape[0], n_frames, k, frame_step)
        out = flat.new_zeros(flat.shape[0], n_frames + k - 1, frame_step)
        for j in range(k):
            out[:, j : j + n_frames] += blocks[:, :, j]
        out = out.reshape(flat.shape[0], out_len)
    else:
        out = F.fold(
            flat.transpose(1, 2),
            output_size=(1, out_len),
            kernel_size=(1, frame_length),
            stride=(1, frame_step),
        ).reshape(flat.shape[0], out_len)
    return out.reshape(tuple(lead) + (out_len,))


def inverse_stft(
    stfts: torch.Tensor,
    frame_length: int = FRAME_LENGTH,
    frame_step: int = FRAME_STEP,
    window: torch.Tensor | None = None,
) -> torch.Tensor:
    """Inverse of :func:`stft`: complex ``(..., n_frames, frame_length//2+1)`` -> real
    ``(..., (n_frames - 1) * frame_step + frame_length)``.

    Same as ``tf.signal.inverse_stft(stfts, frame_length, frame_step, window_fn=...)``: each
    frame is ``irfft``-ed (imaginary parts of the DC and Nyquist bins are ignored), multiplied by
    ``window`` and overlap-added. ``window`` defaults to the periodic Hann window, i.e. no
    overlap normalisation: multiply by :data:`SPLEETER_WINDOW_COMPENSATION` as spleeter does.
    """
    real_dtype = stfts.real.dtype
    if window is None:
        window = hann_window(frame_length, dtype=real_dtype, device=stfts.device)
    frames = torch.fft.irfft(stfts, n=frame_length, dim=-1)
    return overlap_add(frames * window, frame_step)
