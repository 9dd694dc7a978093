"""stemlime-demucs: the Demucs separators for stemlime, through the demucs package's own model code.

- :mod:`.plugin`: the stemlime hook (separator ``demucs``) and the variants' stems; no torch
- :mod:`.loading`: a variant's bag of models from a folder (safetensors, or demucs's ``.th``
  files read with ``torch.load(weights_only=True)``) or from the Hugging Face hub
- :mod:`.separator`: :class:`DemucsSeparator`, any rate in, mono stems out at the input's rate
"""

from __future__ import annotations

from typing import Any

__all__ = ["DemucsSeparator"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "DemucsSeparator":  # lazy: importing the package imports no torch
        from .separator import DemucsSeparator

        return DemucsSeparator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
