"""The Cerberus network (torch): one BLSTM body, three heads (masks, embedding, piano roll).

Shapes: B batch, T frames, F = n_fft / 2 + 1 bins, S sources (instruments + rest), D
embedding dimensions, R transcription outputs (88 keys per pitched instrument + drum classes).
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from .config import CerberusConfig

DB_FLOOR = 1e-5  # magnitudes below this (-100 dB) count as silence in the log spectrogram


def stft(audio: torch.Tensor, config: CerberusConfig) -> torch.Tensor:
    """(B, samples) float32 -> complex STFT (B, T, F), Hann window, centred frames."""
    window = torch.hann_window(config.n_fft, device=audio.device)
    spectrum = torch.stft(audio, config.n_fft, config.hop, window=window, center=True, return_complex=True)
    return spectrum.transpose(1, 2)


def istft(spectrum: torch.Tensor, config: CerberusConfig, length: int) -> torch.Tensor:
    """Complex (B, T, F) -> (B, length) float32; the inverse of :func:`stft`."""
    window = torch.hann_window(config.n_fft, device=spectrum.device)
    return torch.istft(spectrum.transpose(1, 2), config.n_fft, config.hop, window=window, center=True, length=length)


def masked_waveforms(masks: torch.Tensor, spectrum: torch.Tensor, config: CerberusConfig, length: int) -> torch.Tensor:
    """Masks (B, T, F, S) applied to a mixture's complex STFT (B, T, F) -> the sources' waveforms
    (B, S, length) float32, through the inverse STFT: how the separator and the training step
    both turn masks into stems."""
    batch, frames, bins, count = masks.shape
    masked = masks.permute(0, 3, 1, 2) * spectrum[:, None]  # (B, S, T, F)
    return istft(masked.reshape(batch * count, frames, bins), config, length).reshape(batch, count, length)


@attrs.frozen
class Heads:
    masks: torch.Tensor  # (B, T, F, S) in [0, 1]; a softmax's sum to one in every bin
    embedding: torch.Tensor | None  # (B, T, F, D) unit vectors, or None without that head
    roll_logits: torch.Tensor | None  # (B, T, R) before the sigmoid, or None


class Cerberus(nn.Module):
    def __init__(self, config: CerberusConfig):
        super().__init__()
        self.config = config
        bins, hidden = config.bins, config.hidden
        self.norm = nn.BatchNorm1d(bins)
        dropout = config.dropout if config.layers > 1 else 0.0
        encoded = config.trunk == "encoded"
        if encoded:  # Open-Unmix's encoder and skip; no biases before a batch norm
            self.encoder = nn.Linear(bins, hidden, bias=False)
            self.encoder_norm = nn.BatchNorm1d(hidden)
            self.decoder = nn.Linear(3 * hidden, 2 * hidden, bias=False)
            self.decoder_norm = nn.BatchNorm1d(2 * hidden)
        self.body = nn.LSTM(hidden if encoded else bins, hidden, config.layers, batch_first=True, bidirectional=True, dropout=dropout)
        self.mask = nn.Linear(2 * hidden, bins * len(config.sources))
        self.embedding = nn.Linear(2 * hidden, bins * config.embedding) if config.embedding else None
        self.transcription = nn.Linear(2 * hidden, config.roll_size) if config.roll_size else None

    def forward(self, magnitude: torch.Tensor, heads: tuple[str, ...] = ("masks", "embedding", "roll")) -> Heads:
        """Mixture magnitudes (B, T, F) -> the heads named in ``heads`` (the others are None)."""
        batch, frames, bins = magnitude.shape
        db = 20 * torch.log10(magnitude.clamp_min(DB_FLOOR))  # (B, T, F)
        features = self.norm(db.transpose(1, 2)).transpose(1, 2)  # batch norm per frequency bin
        if self.config.trunk == "encoded":
            encoded = torch.tanh(self.encoder_norm(self.encoder(features).view(batch * frames, -1)).view(batch, frames, -1))  # (B, T, H)
            body, _ = self.body(encoded)  # (B, T, 2H)
            decoded = self.decoder(torch.cat([body, encoded], dim=-1)).view(batch * frames, -1)
            hidden = torch.relu(self.decoder_norm(decoded)).view(batch, frames, -1)  # (B, T, 2H)
        else:
            hidden, _ = self.body(features)  # (B, T, 2H)
        masks = embedding = roll = None
        if "masks" in heads and self.config.masks == "sigmoid":
            masks = torch.sigmoid(self.mask(hidden).view(batch, frames, bins, -1))  # (B, T, F, S)
        elif "masks" in heads:
            # the softmax runs over S on a (B, T, S, F) copy: over a last dimension of 5 it took a quarter of a training step
            logits = self.mask(hidden).view(batch, frames, bins, -1).transpose(2, 3).contiguous()  # (B, T, S, F)
            masks = logits.softmax(dim=2).transpose(2, 3)  # (B, T, F, S), a view
        if "embedding" in heads and self.embedding is not None:
            embedding = nn.functional.normalize(torch.tanh(self.embedding(hidden).view(batch, frames, bins, -1)), dim=-1)
        if "roll" in heads and self.transcription is not None:
            roll = self.transcription(hidden)  # (B, T, R)
        return Heads(masks, embedding, roll)
