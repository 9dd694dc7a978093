"""The three losses of Cerberus, on complex STFTs (B, T, F) of the mixture and (B, S, T, F) of the sources.

- deep clustering (Hershey et al. 2016): ``||V V^T - Y Y^T||_F^2`` over the time-frequency
  bins, computed as ``||V^T V||^2 - 2 ||V^T Y||^2 + ||Y^T Y||^2``, each bin weighted by its
  share of the mixture's magnitude (silent bins do not count); Y is the one-hot dominant source;
- mask inference: L1 between the masked mixture magnitude and the phase-sensitive target
  ``|S| cos(angle(S) - angle(X))`` truncated to [0, |X|] (Erdogan et al. 2015), divided by
  the example's mean mixture magnitude so that loud and quiet examples weigh the same;
- transcription: binary cross-entropy of the roll logits against the target roll;
- or, in place of mask inference, on the instruments' masked waveforms: the negative SI-SDR in dB
  (``Objective.mask = "sisdr"``), the measure ``make bench`` scores, or the negative SNR in dB
  (``"snr"``: the true source, not its best-scaled copy, is the target, so a stem that comes out
  too quiet costs, where SI-SDR lets the rest keep what the stems leave out), or both in one
  (``"sisdr-sum"``): each instrument's negative SI-SDR plus the negative SNR of the instruments'
  sum against their true sum, counted up to :data:`SUM_CEILING_DB`, so each stem is scored on its
  shape and together they must hold all of the instruments, none of it left in the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:  # torch is imported by the functions: the trainer's settings (and the CLI) load without it
    import torch


def floats(values: Iterable[Any]) -> tuple[float, ...]:
    """``values`` as a tuple of floats (the converter of the weights here and in the trainer's settings)."""
    return tuple(float(x) for x in values)


@attrs.frozen
class Objective:
    """What a training step minimises: ``weights`` of (deep clustering, the mask loss,
    transcription), and which mask loss: ``"psa"`` (mask inference on the phase-sensitive
    target), ``"sisdr"`` (negative SI-SDR of the instruments' waveforms), ``"snr"`` (their
    negative SNR) or ``"sisdr-sum"`` (their negative SI-SDR plus the negative SNR of their sum);
    for the last three the inverse STFT is in the graph, so a step costs more."""

    weights: tuple[float, float, float] = attrs.field(converter=floats)
    mask: str = "psa"
    # relative weights of the instruments in the mask loss, in the config's order (empty: all equal); the loss
    # is their weighted mean, so only their ratios count; the rest (the PSA loss's last mask) weighs 1
    instrument_weights: tuple[float, ...] = attrs.field(default=(), converter=floats)


def mask_inference(masks: torch.Tensor, mixture: torch.Tensor, sources: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """masks (B, T, F, S) against the phase-sensitive targets of ``sources`` (B, S, T, F); with
    ``weights`` (S,), each source's error counts by its weight (their weighted mean)."""
    import torch

    magnitude = mixture.abs()  # (B, T, F)
    safe = magnitude.clamp_min(1e-8)
    projected = (sources * mixture.conj()[:, None]).real / safe[:, None]  # |S| cos(phase difference)
    target = torch.minimum(projected.clamp_min(0.0), magnitude[:, None])
    estimate = masks.permute(0, 3, 1, 2) * magnitude[:, None]
    scale = magnitude.mean(dim=(1, 2)).clamp_min(1e-8)  # (B,)
    if weights is None:
        return ((estimate - target).abs().mean(dim=(1, 2, 3)) / scale).mean()
    per_source = (estimate - target).abs().mean(dim=(2, 3))  # (B, S)
    return ((per_source * weights).sum(dim=1) / weights.sum() / scale).mean()


def negative_si_sdr(estimates: torch.Tensor, references: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative SI-SDR in dB of waveforms (B, S, samples) over the (example, source) pairs
    whose reference is not silent (0 when all are); with ``weights`` (S,), their weighted mean."""
    scale = (estimates * references).sum(-1) / ((references**2).sum(-1) + 1e-8)
    return _negative_db(estimates, scale[..., None] * references, references, weights=weights)


def negative_snr(estimates: torch.Tensor, references: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative SNR in dB, ``10 log10(|s|^2 / |s - estimate|^2)``, of waveforms (B, S,
    samples) over the (example, source) pairs whose reference is not silent (0 when all are);
    with ``weights`` (S,), their weighted mean."""
    return _negative_db(estimates, references, references, weights=weights)


SUM_CEILING_DB = 30.0  # the instruments' sum counts up to this SNR: beyond it the rest is inaudible beside the mix


def negative_si_sdr_and_sum_snr(estimates: torch.Tensor, references: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`negative_si_sdr` (with ``weights``) plus the negative SNR in dB of the estimates' sum
    against the references' sum (B, samples), at most :data:`SUM_CEILING_DB`, averaged over the
    examples whose sum is audible. SI-SDR scores each stem's shape and forgives its level; the
    sum's SNR makes the stems add up to the instruments, so what one stem lacks is not left in the rest."""
    total = references.sum(dim=1)
    level = _negative_db(estimates.sum(dim=1), total, total, ceiling_db=SUM_CEILING_DB)
    return negative_si_sdr(estimates, references, weights) + level


# the losses on the instruments' waveforms: Objective.mask -> (the part a training step reports, its function)
WAVEFORM_LOSSES = {
    "sisdr": ("si_sdr", negative_si_sdr),
    "snr": ("snr", negative_snr),
    "sisdr-sum": ("si_sdr_sum", negative_si_sdr_and_sum_snr),
}
MASK_LOSSES = ("psa", *WAVEFORM_LOSSES)


def _negative_db(
    estimates: torch.Tensor,
    target: torch.Tensor,
    references: torch.Tensor,
    ceiling_db: float | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """-10 log10(|target|^2 / |estimates - target|^2), averaged over the audible ``references``
    (weighted by ``weights`` (S,) along their second axis, where given); with ``ceiling_db``, each
    ratio counts up to about that many dB (the error is floored at that share of the target's energy)."""
    import torch

    energy = (target**2).sum(-1)
    floor = 0.0 if ceiling_db is None else 10 ** (-ceiling_db / 10)
    ratio = energy / (((estimates - target) ** 2).sum(-1) + floor * energy + 1e-8)
    audible = (references**2).sum(-1) > 1e-3
    if not bool(audible.any()):
        return estimates.sum() * 0.0
    negative = -(10 * torch.log10(ratio + 1e-8))
    if weights is None:
        return negative[audible].mean()
    weight = weights.to(negative.dtype).expand_as(negative)[audible]
    if not bool((weight > 0).any()):  # only instruments of weight 0 play
        return estimates.sum() * 0.0
    return (negative[audible] * weight).sum() / weight.sum()


def deep_clustering(embedding: torch.Tensor, mixture: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Unit embeddings (B, T, F, D) against the dominant-source assignment of ``sources``."""
    import torch
    from torch import nn

    batch = embedding.shape[0]
    magnitude = mixture.abs().reshape(batch, -1)  # (B, TF)
    weights = magnitude / magnitude.sum(dim=1, keepdim=True).clamp_min(1e-8)
    dominant = sources.abs().argmax(dim=1).reshape(batch, -1)  # (B, TF)
    assignment = nn.functional.one_hot(dominant, sources.shape[1]).to(embedding.dtype)  # (B, TF, S)
    root = weights.sqrt()[..., None]
    v = embedding.reshape(batch, -1, embedding.shape[-1]) * root
    y = assignment * root
    vv = torch.bmm(v.transpose(1, 2), v).pow(2).sum(dim=(1, 2))
    vy = torch.bmm(v.transpose(1, 2), y).pow(2).sum(dim=(1, 2))
    yy = torch.bmm(y.transpose(1, 2), y).pow(2).sum(dim=(1, 2))
    return (vv - 2 * vy + yy).mean()


def transcription(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Roll logits (B, T, R) against target rolls (B, T, R) of 0 and 1."""
    from torch import nn

    return nn.functional.binary_cross_entropy_with_logits(logits, targets)
