"""stemlime-spleeter: Deezer's spleeter separator for stemlime, in PyTorch (no TensorFlow).

- :mod:`.plugin`: the stemlime hooks (separator ``spleeter``, models ``spleeter/<variant>``)
- :mod:`.separator`: :class:`SpleeterSeparator`, any rate and channel count in, mono stems out
- :mod:`.separation`, :mod:`.unet`, :mod:`.stft`: the numerics (torch), matching TF spleeter
- :mod:`.variants`: the pretrained models' configurations and checkpoint layout (no torch)
"""

__version__ = "0.1.0"
