"""stemlime's musicnn plugin: the musicnn and VGG taggers (musicnn 0.1.0) in PyTorch."""

from .tagger import MusicnnTagger

__all__ = ["MusicnnTagger"]
