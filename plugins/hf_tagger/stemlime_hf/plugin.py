"""Registers the ``hf`` and ``torch`` taggers with stemlime.

Importing this module is cheap (neither torch nor transformers): ``stemlime plugins`` lists
both taggers and their options without loading anything.
"""

from __future__ import annotations

from stemlime.plugin import Factory, hookimpl, options_of

from .options import HFOptions, TorchModuleOptions


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
            options=options_of(HFOptions),
        )
    )
    register(
        Factory(
            name="torch",
            description="Your PyTorch module (waveform in, one output per label): module=MODULE:FACTORY "
            "with its weights from a state dict or safetensors file.",
            build=_build_torch,
            options=options_of(TorchModuleOptions),
        )
    )
