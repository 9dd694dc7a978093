"""Registers the ``hf`` and ``torch`` taggers with stemlime.

Importing this module is cheap (neither torch nor transformers): ``stemlime plugins`` lists
both taggers and their options without loading anything.
"""

from __future__ import annotations

from stemlime import Factory, Option, hookimpl
from stemlime.devices import DEVICE_OPTION

HF_OUTPUTS = ("auto", "sigmoid", "softmax", "none")
TORCH_OUTPUTS = ("sigmoid", "softmax", "none")


def _build_hf(variant: str | None, **options):
    from .hf import HFTagger  # torch and transformers are imported only when a tagger is built

    return HFTagger(**options)


def _build_torch(variant: str | None, **options):
    from .torch_module import build_torch_tagger

    return build_torch_tagger(variant, **options)


@hookimpl
def stemlime_taggers(register):
    register(
        Factory(
            name="hf",
            description="Any Hugging Face audio classifier (transformers AutoModelForAudioClassification: AST, "
            "wav2vec2, HuBERT, ...) from the hub or a save_pretrained folder.",
            build=_build_hf,
            options=[
                Option("model", "hub name (needs the network) or folder written by save_pretrained (offline)", "str"),
                DEVICE_OPTION,
                Option("batch_size", "windows per network call", "int", 8),
                Option("revision", "hub revision (branch, tag or commit) of a hub model", "str"),
                Option("output", "auto: sigmoid for multi-label models (problem_type), else softmax, as transformers' "
                       "pipeline; or sigmoid, softmax, none (logits)", "str", "auto", HF_OUTPUTS),
            ],
        )
    )
    register(
        Factory(
            name="torch",
            description="Your PyTorch module (waveform in, one output per label): module=MODULE:FACTORY "
            "with its weights from a state dict or safetensors file.",
            build=_build_torch,
            options=[
                Option("module", "MODULE:FACTORY: an nn.Module, or a class or function returning one", "str"),
                Option("path", "folder added to the import path before importing MODULE", "path"),
                Option("checkpoint", "weights: .safetensors, or a torch.save'd state dict (read with weights_only=True)", "path"),
                Option("labels", "FILE with one label per line, or names separated by ';' (default: the module's "
                       "labels attribute, else 0, 1, ...)", "str"),
                Option("sample_rate", "sample rate in Hz the module expects (default: its sample_rate attribute)", "int"),
                Option("input_seconds", "fixed input length in seconds: longer audio is cut into such windows and "
                       "averaged (default: any length)", "float"),
                Option("output", "sigmoid, softmax, or none (the module's outputs as they are)", "str", "none", TORCH_OUTPUTS),
                DEVICE_OPTION,
                Option("batch_size", "windows per module call", "int", 16),
            ],
        )
    )
