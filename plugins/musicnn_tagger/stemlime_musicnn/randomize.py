"""Cascading model randomization for the sanity check (Adebayo et al. 2018).

The layers of a network, top (output) first, and a copy of the network whose top N layers
look as they did before training. Each layer draws from its own generator seeded by
(seed, layer), so step N+1 of a cascade keeps the random values of step N and adds one more
random layer. New weights follow PyTorch's default initialization: uniform in
+-1/sqrt(fan_in) for weights and biases.

Batch normalization. Every conv/dense layer below the output is followed by a
:class:`~stemlime_musicnn.networks.FrozenBatchNorm`, which always normalizes with its moving
statistics. The trained statistics describe the trained layer's output (in MSD_musicnn many
moving variances are ~1e-36, so eps = 1e-3 alone sets a gain of ~30) and mean nothing for a
random layer's output: keeping them saturated the probabilities at 0 or 1 once the layers
below the top ones were random, and the deepest steps gave flat explanations. So a batch norm
is treated as part of the layer whose output it normalizes and is reset with it to its
initial state, the state before training (moving mean 0, moving variance 1, gamma 1, beta 0;
eps stays TF's 1e-3):

- the batch norm right after a re-initialized conv/dense layer (``block.bn``,
  ``midend.bnK``, ``backend.bn_dense``; VGG's ``bns[K]``);
- the channels of musicnn's back-end pooling batch norm (``backend.bn_pool``, max and mean
  over time, interleaved) that carry a re-initialized layer's features (the front-end filters,
  ``cnn1``, ``cnn2``, ``cnn3``); its other channels still carry trained features and keep
  their statistics (``cnn2``/``cnn3`` add a residual, so they count as their conv's features).

A fully randomized network is then a network as initialized before training, except for the
input batch norm (``input_bn``), which normalizes the log-mel input, not a layer's output, and
is kept like the mel front end. Nothing is estimated from data: the reset values are the
constants of an untrained network, so the check does not tune the random model to the input.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .networks import FrozenBatchNorm, Musicnn, Vgg

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


def _layer_batch_norms(network: nn.Module, name: str) -> list[FrozenBatchNorm]:
    """The batch norms that normalize one named layer's output (none for the output layer)."""
    if name == "output":
        return []
    if isinstance(network, Vgg):
        return [network.bns[int(name[-1]) - 1]]
    if name == "dense":
        return [network.backend.bn_dense]
    if name.startswith("midend."):
        return [getattr(network.midend, "bn" + name[-1])]
    blocks = network.temporal if name == "frontend.temporal" else network.timbral
    return [block.bn for block in blocks]


def _pooled_channels(network: Musicnn, name: str) -> list[int]:
    """Channels of ``backend.bn_pool`` that normalize a layer's features: the back end sees the
    dense connection [timbral, temporal, cnn1, cnn2, cnn3] pooled as interleaved (max, mean) pairs."""
    timbral = sum(block.conv.out_channels for block in network.timbral)
    temporal = sum(block.conv.out_channels for block in network.temporal)
    filters = network.midend.conv1.out_channels
    spans = {"frontend.timbral": (0, timbral), "frontend.temporal": (timbral, timbral + temporal)}
    for k in (1, 2, 3):
        start = timbral + temporal + (k - 1) * filters
        spans[f"midend.conv{k}"] = (start, start + filters)
    if name not in spans:
        return []
    first, last = spans[name]
    return [2 * channel + offset for channel in range(first, last) for offset in (0, 1)]


def _reinitialize(module: nn.Module, generator: torch.Generator) -> None:
    fan_in = math.prod(module.weight.shape[1:])
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        for parameter in (module.weight, module.bias):
            fresh = (torch.rand(parameter.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            parameter.copy_(fresh.to(parameter.dtype))


def _reset_batch_norm(bn: FrozenBatchNorm, channels: list[int] | None = None) -> None:
    """Back to the state before training (mean 0, variance 1, gamma 1, beta 0), all channels or some."""
    index = slice(None) if channels is None else torch.as_tensor(channels, dtype=torch.long)
    with torch.no_grad():
        bn.running_mean[index] = 0.0
        bn.running_var[index] = 1.0
        bn.weight[index] = 1.0
        bn.bias[index] = 0.0


def randomize_top_layers(network: nn.Module, layers: int, seed: int = 0) -> nn.Module:
    """A copy of ``network`` with its top ``layers`` layers re-initialized and the batch norms of
    their outputs reset (see the module docstring); the original is untouched."""
    names = layer_names("vgg" if isinstance(network, Vgg) else "musicnn")
    if not 0 <= layers <= len(names):
        raise ValueError(f"layers must be between 0 and {len(names)} ({', '.join(names)}), got {layers}")
    clone = copy.deepcopy(network)
    for position, name in enumerate(names[:layers]):
        generator = torch.Generator().manual_seed(int(seed) * 1000 + position)
        for module in _layer_modules(clone, name):
            _reinitialize(module, generator)
        for bn in _layer_batch_norms(clone, name):
            _reset_batch_norm(bn)
        if isinstance(clone, Musicnn) and (channels := _pooled_channels(clone, name)):
            _reset_batch_norm(clone.backend.bn_pool, channels)
    return clone.eval()
