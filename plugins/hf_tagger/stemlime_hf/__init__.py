"""stemlime-hf: explain the models people use, as stemlime taggers.

- :mod:`.plugin`: the stemlime hooks (taggers ``hf`` and ``torch``); importing it imports no torch
- :mod:`.hf`: :class:`HFTagger`, any ``transformers`` audio classifier with its feature extractor
- :mod:`.torch_module`: :class:`TorchModuleTagger`, a user's PyTorch module (waveform in)
- :mod:`.batching`: windows of the model's input length, run in batches, averaged per input
"""

from __future__ import annotations

from typing import Any

__all__ = ["HFTagger", "TorchModuleTagger"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # lazy, so that finding the plugin (and listing its options) imports neither torch nor transformers
    if name == "HFTagger":
        from .hf import HFTagger

        return HFTagger
    if name == "TorchModuleTagger":
        from .torch_module import TorchModuleTagger

        return TorchModuleTagger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
