"""The ``hf`` tagger: any ``transformers`` audio classifier (``AutoModelForAudioClassification``).

``model`` is a hub name (needs the network, or the model in the Hugging Face cache with
``HF_HUB_OFFLINE=1``) or a folder written by ``save_pretrained`` (works offline). Labels come
from the config's ``id2label`` (in id order), the sample rate from the feature extractor.
Probabilities are computed as ``transformers.pipeline("audio-classification")`` computes them
for one input: the feature extractor on the raw waveform, the model, then sigmoid for a model
whose ``problem_type`` is ``multi_label_classification`` and softmax otherwise (the pipeline's
default; ``output=`` overrides). Models with a fixed input length (AST: ``max_length`` frames
of 10 ms, 10.24 s) declare it as ``input_seconds``: longer audio is cut into such windows and
their probabilities are averaged, shorter audio is padded by the feature extractor itself.

Loading never runs code from the model folder (``trust_remote_code`` stays off); weights are
read by ``from_pretrained``, from safetensors, or from ``pytorch_model.bin`` with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemlime.plugin import composes_on_device, torch_device
from stemlime.plugin import whole_number
from stemlime.plugin import ModelFilesError, StemlimeError, UsageError, one_line

from .batching import WindowedTagger, activate
from .options import HFOptions

AST_FRAME_SECONDS = 0.010  # ASTFeatureExtractor: Kaldi fbank frames every 10 ms


def _quiet_transformers() -> None:
    """Keep transformers' load reports and progress bars out of stemlime's output (errors still raise)."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def _looks_like_a_path(model: str) -> bool:
    """A hub name is ``NAME`` or ``ORG/NAME``; anything else the user wrote is meant as a folder."""
    return model.startswith((".", "/", "~")) or model.endswith("/") or model.count("/") > 1 or "\\" in model


def _source_error(model: str, error: Exception, what: str) -> StemlimeError:
    reason = " ".join(str(error).split())  # the libraries' messages span lines; ours stay on one
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelFilesError(
            f"tagger hf: model={model} is a folder, but it holds no Hugging Face {what} ({reason}). Give a folder "
            "written by save_pretrained (config.json, model.safetensors, preprocessor_config.json) or a hub name."
        )
    if path.exists():
        return UsageError(f"tagger hf: model={model} is a file; give the folder that save_pretrained wrote, or a hub name")
    if _looks_like_a_path(model):
        return UsageError(f"tagger hf: model={model}: no such folder")
    return ModelFilesError(
        f"tagger hf: cannot get the {what} of {model!r} from the Hugging Face hub ({reason}). "
        "Hub names need the network, or the model already in the Hugging Face cache (HF_HUB_OFFLINE=1 uses it "
        "offline); or give a folder written by save_pretrained: model=FOLDER."
    )


def _weights_file(model: str) -> str:
    """The weights file of a model folder (for messages), or the hub name."""
    folder = Path(model).expanduser()
    found = [p for p in (folder / "model.safetensors", folder / "pytorch_model.bin") if p.is_file()] if folder.is_dir() else []
    return str(found[0]) if found else model


def model_input_seconds(feature_extractor: Any) -> float | None:
    """The fixed input length of a model in seconds, from its feature extractor (None: any length).

    AST pads or truncates to ``max_length`` frames of 10 ms; Whisper-style extractors to
    ``n_samples`` samples. Other extractors take any length.
    """
    from transformers import ASTFeatureExtractor

    if isinstance(feature_extractor, ASTFeatureExtractor):
        return round(feature_extractor.max_length * AST_FRAME_SECONDS, 6)
    n_samples = getattr(feature_extractor, "n_samples", None)
    if isinstance(n_samples, int) and n_samples > 0:
        return n_samples / feature_extractor.sampling_rate
    return None


def _classifier_architecture(config: Any, model: str) -> None:
    """Refuse (before any weights are read) a config that transformers cannot classify audio with."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES as NAMES

    if config.model_type not in NAMES:
        raise UsageError(
            f"tagger hf: {model} is a {config.model_type!r} model, which transformers has no audio-classification "
            f"head for. The hf tagger takes AutoModelForAudioClassification models ({', '.join(sorted(NAMES))}); "
            "for another model, wrap it as a PyTorch module: --tagger torch,module=MODULE:FACTORY,..."
        )
    architectures = list(config.architectures or [])
    if architectures and NAMES[config.model_type] not in architectures:
        raise UsageError(
            f"tagger hf: {model} holds a {', '.join(architectures)}, not an audio classifier "
            f"({NAMES[config.model_type]}): it has no trained classification head, so there are no labels to explain. "
            "Fine-tune a classification head first, or give a classifier's name or folder."
        )


class HFTagger(WindowedTagger):
    """A Hugging Face audio classifier as a stemlime tagger (see the module docstring)."""

    def __init__(self, **options: Any):
        given = HFOptions(**options)  # the options: model, device, batch_size, revision, output (see .options)
        model, device, revision, output = given.model, given.device, given.revision, given.output
        if not model:
            raise UsageError(
                "tagger hf needs model=NAME_OR_FOLDER, e.g. 'hf,model=MIT/ast-finetuned-audioset-10-10-0.4593' "
                "or 'hf,model=path/to/saved_model'"
            )
        self.batch_size = given.batch_size
        self.model = str(model)
        self.revision = revision
        self.name = f"hf:{self.model}"
        self.device = torch_device(device, "tagger hf")
        self.compose = "device" if composes_on_device(given.compose, self.device) else "host"
        if _looks_like_a_path(self.model) and not Path(self.model).expanduser().exists():
            raise UsageError(f"tagger hf: model={self.model}: no such folder")  # before transformers is imported
        _quiet_transformers()
        from transformers import AutoConfig, AutoFeatureExtractor

        try:
            self.config = AutoConfig.from_pretrained(self.model, revision=revision)
        except (OSError, ValueError, KeyError) as error:
            raise _source_error(self.model, error, "model configuration (config.json)") from None
        _classifier_architecture(self.config, self.model)
        try:
            self.feature_extractor = AutoFeatureExtractor.from_pretrained(self.model, revision=revision)
        except (OSError, ValueError, KeyError) as error:
            raise _source_error(self.model, error, "feature extractor (preprocessor_config.json)") from None
        self.labels = [str(self.config.id2label[i]) for i in range(self.config.num_labels)]
        if len(set(self.labels)) != len(self.labels):
            raise StemlimeError(f"tagger hf: {self.model} has duplicate label names in its config's id2label")
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.input_seconds = model_input_seconds(self.feature_extractor)
        if output == "auto":
            output = "sigmoid" if self.config.problem_type == "multi_label_classification" else "softmax"
        self.output = output
        self.outputs = "scores" if output == "none" else "probabilities"
        self._network = None

    @property
    def network(self) -> torch.nn.Module:
        """The classifier, read on first use (weights from safetensors or a weights-only .bin)."""
        if self._network is None:
            from transformers import AutoModelForAudioClassification

            try:
                network, info = AutoModelForAudioClassification.from_pretrained(
                    self.model, revision=self.revision, output_loading_info=True
                )
            except (OSError, ValueError, RuntimeError) as error:
                raise _source_error(self.model, error, "model weights") from None
            except Exception as error:  # e.g. safetensors' own error for a truncated file: name the file
                raise ModelFilesError(
                    f"tagger hf: cannot read the model weights of {self.model} ({_weights_file(self.model)}): "
                    f"{type(error).__name__}: {one_line(str(error))}. Save the model again "
                    "(save_pretrained), or fetch it again"
                ) from None
            missing = sorted(info.get("missing_keys") or [])
            if missing:
                raise UsageError(
                    f"tagger hf: {self.model} is not a trained audio classifier: its weights lack "
                    f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''} (transformers would fill them with "
                    "random numbers). Give a classifier's name or folder."
                )
            self._network = network.to(self.device).eval()
        return self._network

    def _forward(self, windows: np.ndarray) -> np.ndarray:
        inputs = self.feature_extractor(list(windows), sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.inference_mode():
            logits = self.network(**inputs.to(self.device)).logits
            return activate(logits.float(), self.output).cpu().numpy()

    def __repr__(self) -> str:
        return f"HFTagger({self.model!r}, device={self.device.type!r}, output={self.output!r})"
