"""The stemlime separator: Cerberus stems (and notes) of audio at any rate.

The input is resampled to the model's rate (16 kHz), separated, and each estimate resampled
back to the input's rate and length. ``rest`` is the input minus the sum of the estimates, at
the input's rate, so the stems and the rest add up to the input exactly (as audioLIME's
CerberusFactorization did), whatever the model misses (content above 8 kHz, instruments it
does not know). ``transcribe`` gives the notes the network's piano roll holds.

The model is found on the first use: ``model_dir`` (a trainer's output folder, checked in
full on every load), else the model cache's ``cerberus/<variant>`` (built with ``stemlime
models build``; verified when built, loaded from its verified copy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stemlime.plugin import ModelFilesError, UsageError
from stemlime.plugin import as_mix, as_sample_rate, fit_length, resample
from stemlime.plugin import torch_device
from stemlime.plugin import Part
from stemlime.plugin import array_digest

from .config import WEIGHTS, CerberusConfig, check_folder, read_config
from .options import CerberusOptions
from .instruments import DEFAULT, NAMED_VARIANTS, REST, parse_instruments, variant_name


def model_hint(variant: str) -> str:
    if variant in NAMED_VARIANTS:
        return (
            f"Build the default model with\n  stemlime models build cerberus/{variant}\nor train one "
            f"(stemlime train cerberus ...) and give its folder: --separator cerberus,model_dir=DIR"
        )
    return "Train one (stemlime train cerberus --instruments ... --out DIR) and give its folder: --separator cerberus,model_dir=DIR"


def load_model(model_dir: Path | None, variant: str | None) -> tuple[CerberusConfig, dict[str, Any], dict[str, np.ndarray]]:
    """(architecture, config.json, tensors) of ``model_dir`` or of the cache's ``cerberus/<variant>``,
    checked; ``variant`` (when given) must name the model's instrument set."""
    from safetensors.numpy import load_file

    if model_dir is None:
        from stemlime.plugin import load_tensors, model_path

        name = f"cerberus/{variant or variant_name(DEFAULT)}"
        folder = model_path(name)  # verified at build time (and again if its files changed)
        config, document = read_config(folder, model_hint(variant or variant_name(DEFAULT)))
        tensors = load_tensors(name)
    else:
        folder = Path(model_dir).expanduser()
        config, document = check_folder(
            folder, "Give the folder a trainer wrote (stemlime train cerberus --out DIR), or leave model_dir out to use the built model."
        )
        tensors = load_file(str(folder / WEIGHTS))
    if variant is not None and config.variant != variant:
        raise UsageError(
            f"cerberus:{variant}: the model in {folder} separates {', '.join(config.instruments)} ({config.variant}), "
            f"not {', '.join(parse_instruments(variant))}; ask for cerberus:{config.variant} or give a model of that set"
        )
    return config, document, tensors


class CerberusSeparator:
    """Cerberus as a stemlime separator: ``separate`` (stems and ``rest``) and ``transcribe`` (notes)."""

    sample_rate = None  # any rate: the model's own is used inside, stems come back at the input's

    def __init__(self, variant: str | None = None, **options: Any):
        given = CerberusOptions(**options)  # the options: model_dir, device, rest (see .options)
        self.variant = variant
        self.model_dir = given.model_dir
        self.device = given.device
        self.rest = given.rest
        self.name = f"cerberus:{variant}" if variant else "cerberus"
        self._network = None
        self._document: dict[str, Any] | None = None
        self._last: tuple[str, Any] | None = None  # (digest of the model-rate audio, its network output)
        if self.model_dir is None:
            self.instruments = parse_instruments(variant or variant_name(DEFAULT))
        else:
            self.instruments = read_config(self.model_dir, model_hint(variant or ""))[0].instruments

    @property
    def stems(self) -> list[str]:
        return [*self.instruments, *([REST] if self.rest else [])]

    @property
    def fingerprint(self) -> str:
        """The SHA-256 of the weights (from config.json): retrained models do not reuse cached stems."""
        if self._document is None:
            if self.model_dir is not None:
                self._document = read_config(self.model_dir)[1]
            else:
                from stemlime.plugin import model_path

                self._document = read_config(model_path(f"cerberus/{self.variant or variant_name(DEFAULT)}"))[1]
        return str(self._document.get("weights_sha256"))

    @property
    def network(self) -> Any:
        """The loaded network (in eval mode), read on first use."""
        if self._network is None:
            import torch

            from .network import Cerberus

            config, document, tensors = load_model(self.model_dir, self.variant)
            device = torch_device(self.device, "cerberus")
            network = Cerberus(config)
            try:
                network.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
            except RuntimeError as error:
                raise ModelFilesError(f"cerberus: the weights do not fit the network ({error})") from None
            self._network = network.to(device).eval()
            self._document = document
        return self._network

    def _output(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, Any]:
        """The mix (mono float32 at ``sample_rate``) and the network's output on it (computed once per input)."""
        from .inference import run

        mix = as_mix(audio, sample_rate)
        network = self.network
        model_rate = network.config.sample_rate
        resampled = resample(mix, int(sample_rate), model_rate)
        digest = array_digest(resampled, model_rate)
        if self._last is None or self._last[0] != digest:
            self._last = (digest, run(network, resampled))
        return mix, self._last[1]

    def separate(self, audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        """{stem: mono float32} at ``sample_rate`` Hz, as long as ``audio``: the instruments, and
        ``rest`` (with ``rest=True``) = audio - their sum."""
        sample_rate = as_sample_rate(sample_rate)
        mix, output = self._output(audio, sample_rate)
        model_rate = self.network.config.sample_rate
        stems = {}
        for name in self.instruments:
            back = resample(output.estimates[name], model_rate, sample_rate)
            stems[name] = np.ascontiguousarray(fit_length(back, len(mix)), dtype=np.float32)
        if self.rest:
            from stemlime.plugin import rest_stem

            stems[REST] = rest_stem(mix, stems)
        return stems

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> dict[str, Part]:
        """{instrument: Part}: the notes of each instrument, seconds from the start of ``audio``
        (drums: onsets of the drum classes, as GM percussion keys), decoded with the model's own
        thresholds (chosen on its validation tracks; 0.5 for a model without them)."""
        from .transcription import decode

        _, output = self._output(audio, as_sample_rate(sample_rate))
        if output.roll is None:
            raise UsageError(f"{self.name}: this model was trained without its transcription head; it separates only")
        return decode(self.network.config, output.roll, self.thresholds)

    @property
    def thresholds(self) -> dict[str, float] | None:
        """The model's decoding thresholds {instrument: t} from its config.json (None: it has none)."""
        self.network  # loads the model and its config.json
        return (self._document or {}).get("transcription", {}).get("thresholds")

    def __repr__(self) -> str:
        return f"CerberusSeparator({self.variant!r}, model_dir={self.model_dir}, device={self.device!r}, rest={self.rest})"
