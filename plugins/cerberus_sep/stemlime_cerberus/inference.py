"""One forward pass of a trained network over a whole mix: the source estimates and the roll.

Masks multiply the mixture's STFT; the inverse STFT of each masked spectrum is the estimate.
Used by the separator and by the trainer's validation, so both measure the same thing.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch

from .network import Cerberus, masked_waveforms, stft


@attrs.frozen
class Output:
    """Estimates {source: float32 mono} (the instruments, then ``rest``) at the model's rate,
    as long as the input, and the roll of probabilities (frames, roll_size) or None."""

    estimates: dict[str, np.ndarray]
    roll: np.ndarray | None


@torch.inference_mode()
def run(network: Cerberus, audio: np.ndarray, device: torch.device | None = None, roll: bool = True) -> Output:
    """Separate (and transcribe) mono float32 ``audio`` at the model's rate with ``network`` in eval mode."""
    config = network.config
    device = device or next(network.parameters()).device
    was_training = network.training
    network.eval()
    try:
        waveform = torch.from_numpy(np.ascontiguousarray(audio, np.float32))[None].to(device)
        spectrum = stft(waveform, config)  # (1, T, F)
        heads = network(spectrum.abs(), heads=("masks", "roll") if roll else ("masks",))
        sources = masked_waveforms(heads.masks, spectrum, config, len(audio))[0].cpu().numpy()  # (S, samples)
        probabilities = torch.sigmoid(heads.roll_logits[0]).cpu().numpy() if heads.roll_logits is not None else None
    finally:
        network.train(was_training)
    return Output({name: sources[i].astype(np.float32) for i, name in enumerate(config.sources)}, probabilities)
