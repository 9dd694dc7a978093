"""The stemlime separator: a Demucs bag of models on audio of any rate and channel count.

What it does is what ``demucs.api.Separator.separate_tensor`` does, on stemlime's conventions:

- input float32 ``(samples,)`` or ``(samples, channels)`` at any rate; mono is duplicated to the
  model's two channels (more than two channels are averaged first, as stemlime's mix is their
  average), then resampled to the model's rate (44.1 kHz) with ``stemlime.audio.resample``;
- normalized by the mean and standard deviation of its channel average, separated by
  ``demucs.apply.apply_model`` (``shifts``, ``overlap``, split into the model's segments) and
  scaled back;
- each stem returned mono (the mean of its two channels) at the input's rate and length, plus
  ``rest`` (the input minus the sum of the stems) when asked for.

``shifts`` are random time shifts (demucs draws them from Python's ``random``): stemlime seeds
them with ``seed`` for each call and restores the global random state afterwards, so the same
input gives the same stems. The bag is loaded on the first ``separate`` (:mod:`.loading`).
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from stemlime.plugin import AudioError, ModelFilesError, UsageError
from stemlime.plugin import as_sample_rate, check_finite, fit_length, resample
from stemlime.plugin import torch_device

from .options import DemucsOptions
from .plugin import VARIANTS

SAMPLE_RATE = 44100  # every pretrained Demucs runs at 44.1 kHz
_MAX_CHANNELS = 64  # more than this is surely (channels, samples) given the wrong way round


@contextmanager
def seeded_random(seed: int) -> Iterator[None]:
    """Python's global ``random`` seeded for the block (demucs's shifts draw from it), then restored."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


class DemucsSeparator:
    """Demucs (``htdemucs``, ``htdemucs_ft``, ``htdemucs_6s``, ``mdx_extra``, ...) as a stemlime separator."""

    sample_rate = SAMPLE_RATE

    def __init__(self, variant: str = "htdemucs", **options: Any):
        if variant not in VARIANTS:
            raise UsageError(f"demucs has no variant {variant!r}; variants: {', '.join(VARIANTS)}")
        given = DemucsOptions(**options)  # the options: device, model_dir, shifts, overlap, rest, seed (see .options)
        self.variant = variant
        self.device = given.device
        self.model_dir = given.model_dir
        self.shifts = given.shifts
        self.overlap = float(given.overlap)
        self.rest = given.rest
        self.seed = int(given.seed)
        self.stems = list(VARIANTS[variant]) + (["rest"] if self.rest else [])
        self.name = f"demucs:{variant}"
        self._model = None
        self._device = None

    def load(self) -> Any:
        """The bag of models, read on first use (call it to fail or pay early)."""
        if self._model is None:
            from .loading import hub_folder, load_bag

            folder = self.model_dir if self.model_dir is not None else hub_folder(self.variant)
            model = load_bag(self.variant, folder)
            if tuple(model.sources) != VARIANTS[self.variant]:
                raise ModelFilesError(
                    f"demucs:{self.variant}: the models in {folder} separate {', '.join(model.sources)}, "
                    f"not {', '.join(VARIANTS[self.variant])}: the folder holds another variant"
                )
            self._device = torch_device(self.device, "demucs")
            self._model = model
        return self._model

    def separate(self, audio: np.ndarray, sample_rate: int, excerpt: Any = None) -> dict[str, np.ndarray]:
        """Stems of ``audio`` ``(samples,)`` or ``(samples, channels)`` at ``sample_rate`` Hz:
        {stem: mono float32 of the input's length, at the input's rate}."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim not in (1, 2) or (audio.ndim == 2 and not 1 <= audio.shape[1] <= _MAX_CHANNELS):
            raise AudioError(f"{self.name} takes audio shaped (samples,) or (samples, channels) (channels last), got {audio.shape}")
        sample_rate = as_sample_rate(sample_rate)
        check_finite(audio, f"the audio given to {self.name}")
        n = audio.shape[0]
        mono = audio if audio.ndim == 1 else audio.mean(axis=1, dtype=np.float32)
        if n == 0:
            return {stem: np.zeros(0, np.float32) for stem in self.stems}
        model = self.load()
        if audio.ndim == 2 and audio.shape[1] == model.audio_channels:
            stereo = audio
        else:  # mono, or more channels than the model takes: their average, on every channel
            stereo = np.repeat(mono[:, None], model.audio_channels, axis=1)
        stereo = resample(stereo, sample_rate, model.samplerate)
        estimates = self.apply(stereo.T)  # (stems, channels, samples) at the model's rate
        out = {}
        for name, estimate in zip(model.sources, estimates):
            stem = resample(estimate.mean(axis=0, dtype=np.float32), model.samplerate, sample_rate)
            out[name] = np.ascontiguousarray(fit_length(stem, n), dtype=np.float32)
        if self.rest:
            out["rest"] = mono - np.sum(list(out.values()), axis=0, dtype=np.float32)
        return out

    def apply(self, waveform: np.ndarray) -> np.ndarray:
        """(channels, samples) at the model's rate -> (stems, channels, samples): demucs.api's
        normalization around ``demucs.apply.apply_model``, with the seeded shifts."""
        import torch
        from demucs.apply import apply_model

        model = self.load()
        wav = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
        reference = wav.mean(0)
        mean, std = reference.mean(), reference.std() + 1e-8
        with seeded_random(self.seed), torch.inference_mode():
            estimates = apply_model(
                model, ((wav - mean) / std)[None], shifts=self.shifts, split=True, overlap=self.overlap, device=self._device, progress=False
            )
        return (estimates * std + mean)[0].cpu().numpy()

    def __repr__(self) -> str:
        return f"DemucsSeparator({self.variant!r}, device={self.device!r}, shifts={self.shifts}, overlap={self.overlap})"
