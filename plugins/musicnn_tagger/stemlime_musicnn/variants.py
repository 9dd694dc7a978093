"""What can be chosen and verified without loading PyTorch: the pretrained variants, the
tagger's device and precision choices, and the TensorFlow variable names of the checkpoints.

Listing plugins (``stemlime plugins``, every command's start) imports this module, not torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from .labels import MSD_LABELS, MTT_LABELS

PRECISIONS = ("fp32", "bf16")
FRONTENDS = ("auto", "numpy", "torch")
"""Where ``predict`` computes the log-mel: numpy (bit for bit as musicnn; the CPU's default) or
torch on the network's device (a GPU's default; ``stemlime_musicnn.device_frontend``)."""
DEFAULT_BATCH_SIZE = 64
"""Patches per network call. On 2 CPU cores the folded MSD_musicnn takes about as long per
patch from 8 patches on, and least at 64 (bench/musicnn_bench.py: 19-23 ms per patch)."""


@dataclass(frozen=True)
class Variant:
    """A pretrained musicnn model: its network family and its output labels."""

    name: str
    architecture: str  # "musicnn" or "vgg"
    labels: tuple[str, ...]  # in output order

    @property
    def n_labels(self) -> int:
        return len(self.labels)


VARIANTS: dict[str, Variant] = {
    "MSD_musicnn": Variant("MSD_musicnn", "musicnn", MSD_LABELS),
    "MTT_musicnn": Variant("MTT_musicnn", "musicnn", MTT_LABELS),
    "MSD_musicnn_big": Variant("MSD_musicnn_big", "musicnn", MSD_LABELS),
    "MSD_vgg": Variant("MSD_vgg", "vgg", MSD_LABELS),
    "MTT_vgg": Variant("MTT_vgg", "vgg", MTT_LABELS),
}
"""Known checkpoints (folder names of the musicnn package). The four shipped with musicnn
0.1.0 are MSD_musicnn, MTT_musicnn, MSD_vgg, MTT_vgg; MSD_musicnn_big (512 mid-end
filters, 500 back-end units) loads too if its checkpoint is supplied."""


def tf_name(base: str, index: int) -> str:
    """TF1 layer naming: the first layer of a kind is ``base``, then ``base_1``, ..."""
    return base if index == 0 else f"{base}_{index}"


def musicnn_variable_names(n_timbral: int = 2, n_temporal: int = 3) -> list[str]:
    """TF variable names that :meth:`Musicnn.from_tensors` reads (no optimizer slots);
    pass them to ``read_checkpoint(prefix, names=...)`` to skip the Adam slots."""
    names = []
    n_conv = n_timbral + n_temporal + 3
    for i in range(n_conv):
        names += [f"{tf_name('conv2d', i)}/kernel", f"{tf_name('conv2d', i)}/bias"]
    for i in range(n_conv + 3):
        names += _bn_names(tf_name("batch_normalization", i))
    for d in ("dense", "dense_1"):
        names += [f"{d}/kernel", f"{d}/bias"]
    return names


def vgg_variable_names(n_blocks: int = 5) -> list[str]:
    """TF variable names that :meth:`Vgg.from_tensors` reads (no optimizer slots)."""
    names = []
    for i in range(n_blocks):
        names += [f"{i + 1}CNN/kernel", f"{i + 1}CNN/bias"]
    for i in range(n_blocks + 1):
        names += _bn_names(tf_name("batch_normalization", i))
    return names + ["dense/kernel", "dense/bias"]


def _bn_names(layer: str) -> list[str]:
    return [f"{layer}/{v}" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
