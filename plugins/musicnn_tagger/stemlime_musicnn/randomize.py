"""Cascading model randomization for the sanity check (Adebayo et al. 2018).

The layers of a network, top (output) first, and a copy of the network whose top N layers
carry fresh random weights. Each layer draws from its own generator seeded by (seed, layer),
so step N+1 of a cascade keeps the random values of step N and adds one more random layer.
New weights follow PyTorch's default initialization: uniform in +-1/sqrt(fan_in) for weights
and biases. Batch normalizations keep their trained statistics, so once the lower layers are
random their outputs no longer match those statistics and the probabilities saturate: the
explanation of a deeply randomized musicnn is often flat (the sanity table shows n/a).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .networks import Musicnn, Vgg

MUSICNN_LAYERS = ("output", "dense", "midend.conv3", "midend.conv2", "midend.conv1", "frontend.temporal", "frontend.timbral")
VGG_LAYERS = ("output", "conv5", "conv4", "conv3", "conv2", "conv1")


def layer_names(architecture: str) -> tuple[str, ...]:
    """Layer names of a network family (``musicnn`` or ``vgg``), top first."""
    return VGG_LAYERS if architecture == "vgg" else MUSICNN_LAYERS


def _layer_modules(network: nn.Module, name: str) -> list[nn.Module]:
    """The convolution/dense modules that make up one named layer."""
    if isinstance(network, Vgg):
        return [network.output] if name == "output" else [network.convs[int(name[-1]) - 1]]
    assert isinstance(network, Musicnn)
    if name == "output":
        return [network.backend.output]
    if name == "dense":
        return [network.backend.dense]
    if name.startswith("midend."):
        return [getattr(network.midend, name.split(".")[1])]
    blocks = network.temporal if name == "frontend.temporal" else network.timbral
    return [block.conv for block in blocks]


def _reinitialize(module: nn.Module, generator: torch.Generator) -> None:
    fan_in = math.prod(module.weight.shape[1:])
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        for parameter in (module.weight, module.bias):
            fresh = (torch.rand(parameter.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            parameter.copy_(fresh.to(parameter.dtype))


def randomize_top_layers(network: nn.Module, layers: int, seed: int = 0) -> nn.Module:
    """A copy of ``network`` with its top ``layers`` layers re-initialized; the original is untouched."""
    names = layer_names("vgg" if isinstance(network, Vgg) else "musicnn")
    if not 0 <= layers <= len(names):
        raise ValueError(f"layers must be between 0 and {len(names)} ({', '.join(names)}), got {layers}")
    clone = copy.deepcopy(network)
    for position, name in enumerate(names[:layers]):
        generator = torch.Generator().manual_seed(int(seed) * 1000 + position)
        for module in _layer_modules(clone, name):
            _reinitialize(module, generator)
    return clone.eval()
