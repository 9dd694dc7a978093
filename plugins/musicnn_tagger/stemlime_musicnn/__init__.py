"""stemlime's musicnn plugin: the musicnn and VGG taggers (musicnn 0.1.0) in PyTorch."""

from __future__ import annotations

from typing import Any

__all__ = ["MusicnnTagger"]


def __getattr__(name: str) -> Any:
    # lazy, so that finding the plugin (and listing its options) does not import torch
    if name == "MusicnnTagger":
        from .tagger import MusicnnTagger

        return MusicnnTagger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
