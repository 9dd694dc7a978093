"""Small models of the real classes, with random weights, saved the way their libraries save them.

No model hub is reachable here, so the tests of stemlime-hf and stemlime-demucs build their
models: ``transformers`` audio classifiers from ``ASTConfig`` / ``Wav2Vec2Config`` (a few
layers, hidden size 32) written with ``save_pretrained``, and Demucs bags of ``HTDemucs``
networks written in demucs's two layouts (its Hugging Face files, and ``.th`` packages from
``demucs.states.save_with_checksum``). Each builder is seeded: the same call writes the same files.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

AST_LABELS = ["drums", "guitar", "piano", "singing", "speech"]
WAV2VEC2_LABELS = ["calm", "energetic", "sad"]
FOUR_STEMS = ["drums", "bass", "other", "vocals"]


def ast_classifier(folder: Path, sample_rate: int = 16000, max_length: int = 100, seed: int = 0) -> Path:
    """A multi-label AST (``problem_type="multi_label_classification"``): ``max_length`` frames of 10 ms."""
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(seed)
    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_mel_bins=32,
        max_length=max_length,
        patch_size=16,
        frequency_stride=10,
        time_stride=10,
        problem_type="multi_label_classification",
        id2label=dict(enumerate(AST_LABELS)),
        label2id={label: i for i, label in enumerate(AST_LABELS)},
    )
    ASTForAudioClassification(config).eval().save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=32, max_length=max_length, sampling_rate=sample_rate).save_pretrained(folder)
    return folder


def _wav2vec2_config(**extra):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=16,
        **extra,
    )


def _wav2vec2_feature_extractor(sample_rate: int):
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(sampling_rate=sample_rate, do_normalize=True, return_attention_mask=True)


def wav2vec2_classifier(folder: Path, sample_rate: int = 16000, seed: int = 0) -> Path:
    """A single-label wav2vec2 sequence classifier (softmax over WAV2VEC2_LABELS), any input length."""
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(seed)
    config = _wav2vec2_config(id2label=dict(enumerate(WAV2VEC2_LABELS)), label2id={label: i for i, label in enumerate(WAV2VEC2_LABELS)})
    Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(folder)
    _wav2vec2_feature_extractor(sample_rate).save_pretrained(folder)
    return folder


def wav2vec2_base(folder: Path, seed: int = 0) -> Path:
    """A wav2vec2 encoder without a classification head: an audio model that is not a classifier."""
    import torch
    from transformers import Wav2Vec2Model

    torch.manual_seed(seed)
    Wav2Vec2Model(_wav2vec2_config()).eval().save_pretrained(folder)
    _wav2vec2_feature_extractor(16000).save_pretrained(folder)
    return folder


def htdemucs(sources: list[str] = FOUR_STEMS, seed: int = 0):
    """A randomly initialised HTDemucs (the class of htdemucs and htdemucs_6s), small: 1-s segments."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    return HTDemucs(
        sources=list(sources), channels=4, depth=3, nfft=512, t_layers=1, t_heads=2, dconv_comp=2, segment=Fraction(1), samplerate=44100
    ).eval()


def _json_default(value):
    # demucs's encoding of Fractions in the metadata of its Hugging Face files
    if isinstance(value, Fraction):
        return {"_type": "fraction", "numerator": value.numerator, "denominator": value.denominator}
    return str(value)


def save_demucs_safetensors(model, folder: Path, signature: str) -> Path:
    """One network as demucs's Hugging Face repositories hold it: ``SIG.safetensors``, with the
    class and its init arguments as JSON in the metadata (demucs's tools/export_hf.py layout)."""
    from safetensors.torch import save_file

    args, kwargs = model._init_args_kwargs
    metadata = {
        "klass": f"{type(model).__module__}.{type(model).__qualname__}",
        "args": json.dumps(args, default=_json_default),
        "kwargs": json.dumps(kwargs, default=_json_default),
    }
    path = folder / f"{signature}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=metadata)
    return path


def save_demucs_th(model, folder: Path, signature: str) -> Path:
    """One network as demucs's original downloads hold it: ``demucs.states.save_with_checksum``
    writes ``SIG-CHECKSUM.th`` (a package of class, arguments and state; half precision, as
    demucs's ``serialize_model`` stores released models)."""
    from demucs.states import get_state, save_with_checksum

    args, kwargs = model._init_args_kwargs
    package = {
        "klass": type(model),
        "args": args,
        "kwargs": kwargs,
        "state": get_state(model, None, half=True),
        "training_args": {"dset": {"samplerate": 44100}, "seed": 42},
    }
    save_with_checksum(package, folder / f"{signature}.th")
    return next(folder.glob(f"{signature}-*.th"))


def write_bag(folder: Path, name: str, signatures: list[str], weights: list[list[float]] | None = None) -> Path:
    """``NAME.yaml``: the bag of models as demucs's YAML files describe it."""
    lines = [f"models: {json.dumps(signatures)}"]
    if weights is not None:
        lines.append(f"weights: {json.dumps(weights)}")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path
