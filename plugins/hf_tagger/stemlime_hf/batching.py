"""What the ``hf`` and ``torch`` taggers share: windows in batches and an activation.

A model with a fixed input length (``input_seconds``) sees each input cut into windows of that
length (:func:`stemlime.tagging.cut_windows`, musicnn's rule), ``batch_size`` windows per
network call; each input's output is the mean over its windows.
"""

from __future__ import annotations

import numpy as np
import torch

from stemlime.plugin import AudioError
from stemlime.plugin import cut_windows, mean_over_windows

from .options import TORCH_OUTPUTS as ACTIVATIONS


def activate(logits: torch.Tensor, output: str) -> torch.Tensor:
    """(N, L) logits -> probabilities as transformers' pipelines compute them (``none``: unchanged)."""
    if output == "sigmoid":
        return logits.sigmoid()
    if output == "softmax":
        return logits.softmax(-1)
    return logits


def window_samples(input_seconds: float | None, sample_rate: int) -> int | None:
    """The model's window in samples (None: any length)."""
    return None if not input_seconds else int(round(input_seconds * sample_rate))


class WindowedTagger:
    """``predict`` for the taggers here: ``_forward(windows) -> (W, L)`` on ``batch_size`` windows of
    ``input_seconds`` at a time, averaged per input.

    ``pad_short``: an input shorter than one window is zero-padded to it (a module that needs its
    fixed length); otherwise passed as it is (a feature extractor that pads by itself).
    """

    name: str
    sample_rate: int
    input_seconds: float | None
    batch_size: int
    pad_short = False

    def _forward(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, samples) mono audio at ``sample_rate`` -> (B, labels), averaged over each input's windows."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None]
        if batch.ndim != 2:
            raise AudioError(f"{self.name} takes a (batch, samples) array of mono audio, got shape {batch.shape}")
        if not np.all(np.isfinite(batch)):
            raise AudioError(f"{self.name}: the audio holds NaN or infinite samples")
        window = window_samples(self.input_seconds, self.sample_rate)
        windows, bounds = cut_windows(batch, window, pad_short=self.pad_short)
        outputs = [self._forward(windows[first:first + self.batch_size]) for first in range(0, len(windows), self.batch_size)]
        return mean_over_windows(np.concatenate(outputs), bounds)
