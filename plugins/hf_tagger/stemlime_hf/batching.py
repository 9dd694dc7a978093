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
    device: torch.device
    compose: str = "host"  # where the engine's perturbations are mixed: "device" or "host" (see stage)
    pad_short = False
    MASKS_PER_CALL_ON_DEVICE = 1024

    def _forward(self, windows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward_tensor(self, windows: torch.Tensor) -> torch.Tensor:
        """(W, samples) windows on the device -> (W, L) outputs on the device; by default through
        :meth:`_forward` on the host (a feature extractor that takes numpy)."""
        return torch.from_numpy(self._forward(windows.cpu().numpy())).to(windows.device)

    # ---------------------------------------------------------------- perturbations mixed on the device

    @property
    def mask_batch_size(self) -> int | None:
        """Masks per :meth:`predict_masks` call the engine should send (None: its own batch size)."""
        return self.MASKS_PER_CALL_ON_DEVICE if self.compose == "device" else None

    def stage(self, component_audio: np.ndarray) -> torch.Tensor | None:
        """The components C (K x samples float32) on the device, copied once per explanation;
        None when composing on the host (``compose``)."""
        if self.compose != "device":
            return None
        components = torch.from_numpy(np.ascontiguousarray(component_audio, dtype=np.float32))
        if not torch.isfinite(components).all():
            raise AudioError(f"{self.name}: the audio holds NaN or infinite samples")
        if self.device.type == "cuda":
            components = components.pin_memory()
        return components.to(self.device, non_blocking=True)

    def predict_masks(self, staged: torch.Tensor, masks: np.ndarray, empty_value: float) -> np.ndarray:
        """(B, K) masks -> (B, labels): :meth:`predict` of the mixtures ``masks @ C`` (an all-off mask
        plays ``empty_value``), mixed and windowed on the device, ``batch_size`` windows per call."""
        window = window_samples(self.input_seconds, self.sample_rate)
        length = staged.shape[1]
        per_input = 1 if window is None or length <= window else length // window
        step = max(1, self.batch_size // per_input)
        on_device = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.float32)).to(self.device)
        outputs = []
        with torch.inference_mode():
            for first in range(0, len(on_device), step):
                chunk = on_device[first : first + step]
                audio = chunk @ staged
                audio[chunk.sum(dim=1) == 0] = empty_value
                if window is not None and length < window and self.pad_short:
                    audio = torch.nn.functional.pad(audio, (0, window - length))
                windows = audio if per_input == 1 else audio[:, : per_input * window].reshape(-1, window)
                result = self._forward_tensor(windows).float()
                outputs.append(result.view(len(chunk), per_input, -1).mean(dim=1))
            return torch.cat(outputs).cpu().numpy().astype(np.float32)

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
        outputs = [self._forward(windows[first : first + self.batch_size]) for first in range(0, len(windows), self.batch_size)]
        return mean_over_windows(np.concatenate(outputs), bounds)
