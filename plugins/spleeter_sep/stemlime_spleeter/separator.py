"""The stemlime separator: spleeter's pretrained models on audio of any rate and channel count.

Input conventions (stemlime's): float32 ``(samples,)`` or ``(samples, channels)`` at any rate.

- Resampled to 44.1 kHz (the models' rate) with ``stemlime.audio.resample`` when needed; the
  stems are resampled back and trimmed/padded to the input's length.
- Mono is duplicated to two channels, as spleeter does. Stereo is separated as stereo.
- More than two channels are averaged to mono first (then duplicated): spleeter itself would
  keep the first two and drop the rest, but the stems would then miss whatever the other
  channels hold, while stemlime's mix is the average of all channels.
- Each stem is returned as mono, the mean of spleeter's two output channels.

Weights are read on the first ``separate`` call, from ``model_dir`` when given (with every
checksum), else from the model cache's verified copy (``stemlime models fetch spleeter/<variant>``).
On the CPU the stems' U-Nets run on ``threads`` one-core worker threads (:mod:`stemlime.workers`),
one stem per thread: the same numbers as PyTorch's own threads, without their waits on a busy machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stemlime.plugin import AudioError, ModelFilesError, UsageError
from stemlime.plugin import check_finite, fit_length, resample
from stemlime.plugin import torch_device

from .options import SpleeterOptions
from .variants import MODEL_CONFIGS, check_checkpoint

SAMPLE_RATE = 44100
MODEL_FILES = ("model.index", "model.data-00000-of-00001")
_MAX_CHANNELS = 64  # more than this is surely (channels, samples) given the wrong way round


def model_folder(variant: str, model_dir: Path | None = None) -> Path:
    """The folder of ``variant``'s checkpoint: ``model_dir`` (checked) or the verified cache."""
    if model_dir is None:
        from stemlime.plugin import model_path

        return model_path(f"spleeter/{variant}")
    model_dir = Path(model_dir).expanduser()
    missing = [name for name in MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelFilesError(
            f"spleeter:{variant}: model_dir={model_dir} lacks {', '.join(missing)}. It must hold the {variant} "
            f"checkpoint files {', '.join(MODEL_FILES)}; or leave model_dir out and run\n"
            f"  stemlime models fetch spleeter/{variant}"
        )
    check_checkpoint(model_dir, variant)
    return model_dir


class SpleeterSeparator:
    """Deezer's spleeter (``2stems``, ``4stems`` or ``5stems``) as a stemlime separator."""

    sample_rate = SAMPLE_RATE

    def __init__(self, variant: str = "2stems", **options: Any):
        if variant not in MODEL_CONFIGS:
            raise UsageError(f"spleeter has no variant {variant!r}; variants: {', '.join(MODEL_CONFIGS)}")
        given = SpleeterOptions(**options)  # the options: device, wiener, model_dir, threads (see .options)
        self.threads = given.threads
        self.variant = variant
        self.device = given.device
        self.wiener = given.wiener
        self.model_dir = given.model_dir
        self.stems = list(MODEL_CONFIGS[variant]["stems"])
        self.name = f"spleeter:{variant}"
        self._networks = None
        self._device = None

    def load(self) -> None:
        """Read the weights (done by the first ``separate``; call it to fail or pay early)."""
        if self._networks is not None:
            return
        folder = model_folder(self.variant, self.model_dir)  # before importing torch: fast errors
        device = torch_device(self.device, "spleeter")
        from .unet import load_networks

        try:
            networks = load_networks(self.variant, self.model_dir)
        except ValueError as error:  # a variable missing or of the wrong shape
            raise ModelFilesError(
                f"spleeter:{self.variant}: {error} (files in {folder}).\n"
                f"Fetch the files again with:\n  stemlime models fetch spleeter/{self.variant} --force"
            ) from None
        self._networks = networks.to(device)
        self._device = device

    def separate(self, audio: np.ndarray, sample_rate: int, excerpt: Any = None) -> dict[str, np.ndarray]:
        """Stems of ``audio`` ``(samples,)`` or ``(samples, channels)`` at ``sample_rate`` Hz:
        {stem: mono float32 of the input's length, at the input's rate}."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim not in (1, 2) or (audio.ndim == 2 and not 1 <= audio.shape[1] <= _MAX_CHANNELS):
            raise AudioError(
                f"spleeter:{self.variant} takes audio shaped (samples,) or (samples, channels) (channels last), got {audio.shape}"
            )
        if int(sample_rate) <= 0:
            raise AudioError(f"spleeter:{self.variant}: sample_rate must be a positive number of Hz, got {sample_rate}")
        check_finite(audio, "the audio given to spleeter")
        n = audio.shape[0]
        if n == 0:
            return {stem: np.zeros(0, np.float32) for stem in self.stems}
        if audio.ndim == 1:
            audio = audio[:, None]
        if audio.shape[1] > 2:
            audio = audio.mean(axis=1, keepdims=True, dtype=np.float32)
        if audio.shape[1] == 1:
            audio = np.repeat(audio, 2, axis=1)
        waveform = resample(audio, int(sample_rate), SAMPLE_RATE)

        self.load()
        from .separation import separate

        stereo = separate(waveform, self._networks, self._device, wiener=self.wiener, workers=self._workers())
        out = {}
        for stem in self.stems:  # each stem's stereo is let go once its mono exists (long songs: half the peak)
            mono = stereo.pop(stem).mean(axis=1, dtype=np.float32)
            mono = resample(mono, SAMPLE_RATE, int(sample_rate))
            out[stem] = np.ascontiguousarray(fit_length(mono, n), dtype=np.float32)
        return out

    def _workers(self):
        """One-core CPU worker threads for the stems' U-Nets (:mod:`stemlime.workers`), or None
        (a GPU, one thread, or a PyTorch whose threads share one pool)."""
        import torch

        from stemlime.plugin import cpu_workers, per_thread_widths

        count = self.threads or torch.get_num_threads()
        if self._device.type != "cpu" or count < 2 or not per_thread_widths():
            return None
        return cpu_workers(count)

    def __repr__(self) -> str:
        return f"SpleeterSeparator({self.variant!r}, device={self.device!r}, wiener={self.wiener})"
