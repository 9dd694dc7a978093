"""Spleeter separation (``Separator.separate``) in torch, processed segment by segment.

Pipeline reproduced from spleeter's ``EstimatorSpecBuilder`` (prediction mode):

1. Stereo waveform ``x`` (n, 2) at 44.1 kHz; ``frame_length`` (4096) zeros are prepended.
2. STFT per channel: periodic Hann 4096, hop 1024, ``pad_end=True``
   -> ``n_frames = ceil((n + 4096) / 1024)`` frames of 2049 bins.
3. The STFT is zero-padded to a multiple of T = 512 frames and cut into segments of 512 frames.
   Each segment's magnitude, restricted to the lowest F = 1024 bins, is the network input
   ``(2, 512, 1024)``; every segment is processed independently (inference BatchNorm), which is
   what makes exact chunked processing possible: we compute one segment's STFT from its own
   slice of the waveform (plus 3072 samples of overlap), run the networks, invert it and
   overlap-add it into the output. Memory is bounded by a segment (about 12 s of audio), not
   by the track.
4. Ratio masks: ``m_j = (y_j^2 + eps / n_stems) / (sum_k y_k^2 + eps)`` with ``y_j`` the
   networks' magnitude estimates, exponent 2 and eps = 1e-10; extended with zeros for bins
   >= F (``mask_extension = "zeros"``); ``m_j * STFT`` (complex).
5. Inverse STFT with the Hann window times 2/3, then the first 4096 samples (the prepended
   zeros) are dropped and the result is cut to ``n`` samples.

The optional multichannel Wiener filter reproduces spleeter's ``MWF=True`` path, which calls
``norbert.wiener(v, x)`` (one EM iteration, soft-mask initialisation, eps = float32 eps) with
``v`` the networks' magnitude estimates (zero above F) and ``x`` the mixture STFT of the
**whole track**. Its statistics are global (the spatial covariance of each stem, averaged over
all frames, and the track's peak magnitude used for scaling), so it takes two passes over the
segments: the first accumulates the statistics, the second (which runs the networks again,
keeping memory bounded) filters and inverts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .stft import FRAME_LENGTH, FRAME_STEP, SPLEETER_WINDOW_COMPENSATION, hann_window, overlap_add
from .unet import StemNetworks

__all__ = ["SAMPLE_RATE", "SEGMENT_FRAMES", "EPSILON", "SEPARATION_EXPONENT", "separate"]

SAMPLE_RATE = 44100
"""Sample rate the pretrained models expect, in Hz."""
SEGMENT_FRAMES = 512
"""T: STFT frames per network input segment (512 x 1024 samples = 11.9 s)."""
EPSILON = 1e-10
"""spleeter's ``EstimatorSpecBuilder.EPSILON`` used in the ratio masks."""
SEPARATION_EXPONENT = 2
"""spleeter's ``separation_exponent`` (all pretrained configs)."""


def _to_stereo(waveform: np.ndarray) -> np.ndarray:
    """As spleeter's ``to_stereo``: mono is duplicated, channels beyond the second are dropped."""
    w = np.asarray(waveform, dtype=np.float32)
    if w.ndim == 1:
        w = w[:, None]
    if w.ndim != 2:
        raise ValueError(f"waveform must be (n_samples, n_channels), got shape {w.shape}")
    if w.shape[1] == 1:
        w = np.repeat(w, 2, axis=1)
    elif w.shape[1] > 2:
        w = w[:, :2]
    return w


class _Segmenter:
    """Geometry of spleeter's padded STFT and of its 512-frame segments.

    Padded-signal coordinates: sample ``p`` of the padded signal is input sample ``p - 4096``.
    Frame ``f`` covers padded samples ``[1024 f, 1024 f + 4096)``.
    """

    def __init__(self, waveform: np.ndarray, device: torch.device, frames_per_segment: int):
        self.x = torch.from_numpy(np.ascontiguousarray(waveform.T))  # (2, n), CPU
        self.n = waveform.shape[0]
        self.device = device
        self.T = frames_per_segment
        self.n_frames = -(-(self.n + FRAME_LENGTH) // FRAME_STEP)  # tf.signal.frame pad_end
        self.n_segments = -(-self.n_frames // self.T)
        self.window = hann_window(FRAME_LENGTH, dtype=torch.float32, device=device)

    def batches(self, segments_per_batch: int) -> Iterator[tuple[int, int]]:
        for s0 in range(0, self.n_segments, segments_per_batch):
            yield s0, min(s0 + segments_per_batch, self.n_segments)

    def stft(self, s0: int, s1: int) -> torch.Tensor:
        """Complex STFT of segments [s0, s1): (s1 - s0, 2, T, 2049) on the device."""
        n_fr = (s1 - s0) * self.T
        start = s0 * self.T * FRAME_STEP  # padded coordinates
        length = (n_fr - 1) * FRAME_STEP + FRAME_LENGTH
        chunk = torch.zeros(2, length, dtype=torch.float32)
        lo, hi = max(start - FRAME_LENGTH, 0), min(start + length - FRAME_LENGTH, self.n)
        if hi > lo:
            chunk[:, lo - (start - FRAME_LENGTH) : hi - (start - FRAME_LENGTH)] = self.x[:, lo:hi]
        chunk = chunk.to(self.device)
        frames = chunk.unfold(-1, FRAME_LENGTH, FRAME_STEP)  # (2, n_fr, 4096)
        spec = torch.fft.rfft(frames * self.window, n=FRAME_LENGTH, dim=-1)  # (2, n_fr, 2049)
        return spec.reshape(2, s1 - s0, self.T, -1).transpose(0, 1)

    def valid_frames(self, s0: int, s1: int) -> int:
        """Frames of segments [s0, s1) that are real STFT frames (not segment padding)."""
        return min((s1 - s0) * self.T, self.n_frames - s0 * self.T)

    def frames_to_compute(self, s0: int, s1: int) -> int:
        """Frames of each segment of [s0, s1) whose masks are needed: the valid ones of a lone
        last segment (the U-Net's other frames are padding, still fed to it, never computed
        for), else all T."""
        return self.valid_frames(s0, s1) if s1 - s0 == 1 else self.T

    def add_inverse(self, spec: torch.Tensor, s0: int, out: np.ndarray) -> None:
        """Inverse-STFT ``spec (2, n_valid_frames, 2049)`` starting at frame ``s0 * T`` and add
        it (times 2/3, in input coordinates, clipped to [0, n)) into ``out (n, 2)``."""
        frames = torch.fft.irfft(spec, n=FRAME_LENGTH, dim=-1) * self.window
        wave = overlap_add(frames, FRAME_STEP) * SPLEETER_WINDOW_COMPENSATION  # (2, len)
        start = s0 * self.T * FRAME_STEP - FRAME_LENGTH  # input coordinates
        lo, hi = max(start, 0), min(start + wave.shape[-1], self.n)
        if hi > lo:
            out[lo:hi] += wave[:, lo - start : hi - start].T.cpu().numpy()


def _ratio_masks(estimates: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """spleeter's ``_build_masks`` before extension: (y_j^p + eps/n) / (sum_k y_k^p + eps)."""
    powered = {k: v**SEPARATION_EXPONENT for k, v in estimates.items()}
    total = torch.stack(list(powered.values())).sum(0) + EPSILON
    return {k: (v + EPSILON / len(estimates)) / total for k, v in powered.items()}


def _extend(low: torch.Tensor, n_bins_total: int) -> torch.Tensor:
    """Zero-extend the last axis from F to the full 2049 bins (mask_extension "zeros")."""
    pad = n_bins_total - low.shape[-1]
    return torch.nn.functional.pad(low, (0, pad))


def separate(
    waveform: np.ndarray,
    networks: StemNetworks,
    device: str | torch.device = "cpu",
    *,
    wiener: bool = False,
    segments_per_batch: int = 1,
    workers: Any = None,
) -> dict[str, np.ndarray]:
    """Separate a track into the networks' stems, as spleeter's ``Separator.separate``.

    Parameters
    ----------
    waveform : (n_samples, 2) float32 at 44100 Hz (mono (n,) or (n, 1) is duplicated, extra
        channels are dropped, as spleeter does).
    networks : :class:`~stemlime_spleeter.unet.StemNetworks` (from ``build_networks``).
    device : torch device for the computation ("cpu", "cuda", ...); the networks are moved there.
    wiener : multichannel Wiener filtering (spleeter's ``MWF=True``); off by default.
    segments_per_batch : 512-frame segments (11.9 s each) processed at once; 1 keeps memory
        lowest, more can be faster on a GPU. Results do not depend on it.
    workers : :class:`stemlime.workers.CpuWorkers` to run the stems' U-Nets on (one stem per
        one-core worker thread; CPU only), or None: in the calling thread.

    Returns {stem: (n_samples, 2) float32}, in ``networks.stems`` order.
    """
    if segments_per_batch < 1:
        raise ValueError("segments_per_batch must be >= 1")
    x = _to_stereo(waveform)
    device = torch.device(device)
    networks = networks.to(device).eval()
    outputs = {stem: np.zeros((x.shape[0], 2), dtype=np.float32) for stem in networks.stems}
    if x.shape[0] == 0:
        return outputs
    seg = _Segmenter(x, device, SEGMENT_FRAMES)
    F = networks.n_bins
    with torch.inference_mode():
        if not wiener:
            for s0, s1 in seg.batches(segments_per_batch):
                spec = seg.stft(s0, s1)  # (B, 2, T, 2049)
                nv = seg.valid_frames(s0, s1)
                frames = seg.frames_to_compute(s0, s1)
                estimates = networks(spec[..., :F].abs(), frames, workers)  # (B, 2, frames, F) each
                masks = _ratio_masks(estimates)
                spec = spec[:, :, :frames]
                for stem, mask in masks.items():
                    masked = _extend(mask, spec.shape[-1]) * spec  # (B, 2, frames, 2049)
                    masked = masked.transpose(0, 1).reshape(2, -1, spec.shape[-1])[:, :nv]
                    seg.add_inverse(masked, s0, outputs[stem])
        else:
            _separate_wiener(seg, networks, outputs, segments_per_batch, workers)
    return outputs


# ----------------------------------------------------------------------------- Wiener filter


def _segment_estimates(seg: _Segmenter, networks: StemNetworks, s0: int, s1: int, workers: Any = None):
    """Mixture STFT and stems' magnitude estimates of segments [s0, s1), valid frames only.

    Returns x (n_valid, 2049, 2) complex64 and v (n_valid, F, 2, n_stems) float32
    (norbert's layouts: frames, bins, channels[, sources])."""
    spec = seg.stft(s0, s1)
    frames = seg.frames_to_compute(s0, s1)
    estimates = networks(spec[..., : networks.n_bins].abs(), frames, workers)
    spec = spec[:, :, :frames]
    nv = seg.valid_frames(s0, s1)
    x = spec.permute(0, 2, 3, 1).reshape(-1, spec.shape[-1], 2)[:nv]
    v = torch.stack([estimates[s] for s in networks.stems], dim=-1)  # (B, 2, T, F, J)
    v = v.permute(0, 2, 3, 1, 4).reshape(-1, networks.n_bins, 2, len(networks.stems))[:nv]
    return x, v


def _softmask(v: torch.Tensor, x_low: torch.Tensor, eps: float) -> torch.Tensor:
    """norbert.softmask: y_j = v_j / (eps + sum_k v_k) * x. v (t,f,c,J), x (t,f,c) -> (t,f,c,J)."""
    total = v.sum(-1, keepdim=True)
    return (v / (eps + total)) * x_low[..., None]


def _separate_wiener(seg: _Segmenter, networks: StemNetworks, outputs: dict, segments_per_batch: int, workers: Any) -> None:
    """norbert.wiener(v, x, iterations=1, use_softmask=True, eps=None), done in two passes.

    Bins >= F have v = 0: their soft mask, covariance and Wiener gain are exactly zero, so only
    the lowest F bins are processed and the rest of the output spectrum is zero.
    """
    eps = float(np.finfo(np.float32).eps)
    F = networks.n_bins
    J = len(networks.stems)
    dev = seg.device
    # Pass 1: max |x| over the whole track (all 2049 bins), and per stem j the unnormalised
    # spatial covariance sum_t y_j y_j^H (F, 2, 2) and weight sum_t mean_c |y_j|^2 (F,),
    # from the soft-mask estimates y = softmask(v, x). Accumulated in float64.
    max_abs = 0.0
    cov = torch.zeros(F, 2, 2, J, dtype=torch.complex128, device=dev)
    weight = torch.zeros(F, J, dtype=torch.float64, device=dev)
    for s0, s1 in seg.batches(segments_per_batch):
        x, v = _segment_estimates(seg, networks, s0, s1, workers)
        max_abs = max(max_abs, float(x.abs().max()))
        y = _softmask(v, x[:, :F], eps)  # (t, F, 2, J)
        cov += (y[:, :, :, None, :] * y.conj()[:, :, None, :, :]).sum(0).to(torch.complex128)
        weight += (y.abs() ** 2).mean(2).sum(0).to(torch.float64)
    # norbert scales x and y by max_abs before the EM step; the sums scale by max_abs^2.
    scale = max(1.0, max_abs / 10.0)
    s2 = scale * scale
    R = (cov / s2) / (eps + weight / s2)[:, None, None, :]  # (F, 2, 2, J)
    R = R.to(torch.complex64)
    reg = math.sqrt(eps) * torch.eye(2, dtype=torch.complex64, device=dev)
    # Pass 2: for each frame, Cxx = sum_j v_j R_j + sqrt(eps) I; y_j = v_j R_j Cxx^-1 x.
    for s0, s1 in seg.batches(segments_per_batch):
        x, v = _segment_estimates(seg, networks, s0, s1, workers)
        xs = x[:, :F] / scale
        y = _softmask(v, x[:, :F], eps) / scale
        vj = (y.abs() ** 2).mean(2)  # (t, F, J): local spectrogram model of each stem
        cxx = (vj[:, :, None, None, :] * R[None]).sum(-1) + reg  # (t, F, 2, 2)
        inv = _invert_2x2(cxx)
        for k, stem in enumerate(networks.stems):
            # W_j = v_j R_j Cxx^-1 (2x2 products written out: much faster than einsum here)
            gain = (R[None, :, :, :, None, k] * inv[:, :, None, :, :]).sum(3) * vj[..., k, None, None]
            yk = (gain * xs[:, :, None, :]).sum(-1) * scale  # (t, F, 2)
            full = torch.zeros(yk.shape[0], FRAME_LENGTH // 2 + 1, 2, dtype=yk.dtype, device=dev)
            full[:, :F] = yk
            seg.add_inverse(full.permute(2, 0, 1), s0, outputs[stem])


def _invert_2x2(m: torch.Tensor) -> torch.Tensor:
    """norbert's ``_invert`` for 2x2 matrices: closed form (adjugate / determinant, no eps)."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    inv_det = 1.0 / det
    out = torch.empty_like(m)
    out[..., 0, 0] = inv_det * d
    out[..., 1, 1] = inv_det * a
    out[..., 0, 1] = -inv_det * b
    out[..., 1, 0] = -inv_det * c
    return out
