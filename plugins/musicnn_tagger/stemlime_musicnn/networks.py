"""PyTorch ports of the musicnn 0.1.0 taggers (Pons & Serra), inference only.

Two network families:

- :class:`Musicnn`: musically motivated front end (timbral filters spanning 38/67 mel bands,
  temporal filters spanning 128/64/32 frames), dense-connected 1-D CNN mid end, global
  max+mean pooling back end. Variants MSD_musicnn, MTT_musicnn (and MSD_musicnn_big,
  whose widths are read from the tensors).
- :class:`Vgg`: five 3x3 conv/BN/max-pool blocks and a dense layer (MSD_vgg, MTT_vgg).

Both are built from a dict of numpy arrays keyed by the TensorFlow 1 variable names of the
original checkpoints (``conv2d_5/kernel``, ``batch_normalization_9/moving_mean``, ...), e.g.
as returned by ``stemlime.tfcheckpoint.read_checkpoint``. Extra variables (optimizer slots)
are ignored; a missing or mis-shaped variable raises :class:`ValueError` naming it.

Input of every network: ``patches`` of shape ``(B, 187, 96)`` float32 = batch, time frames
(16 ms), mel bands, as produced by :mod:`stemlime_musicnn.frontend`. ``forward`` returns the
sigmoid tag probabilities ``(B, n_labels)`` (musicnn's taggram rows); ``extract`` also
returns the logits and the intermediate features.

Conventions. Internally tensors are channels-first (PyTorch's NCHW, ``(B, C, T, F)`` or
``(B, C, T)``); TF kernels (HWIO) are permuted at load time. TensorFlow "same" padding with
an even kernel pads one more frame after than before; this is reproduced explicitly.
Batch normalisation always runs in inference mode (moving statistics, TF's eps = 1e-3),
whatever ``.train()`` says. Dropout layers of the original are identities at inference and
are omitted.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .variants import VARIANTS, Variant, tf_name, musicnn_variable_names, vgg_variable_names

__all__ = [
    "TF_BATCHNORM_EPS",
    "Variant",
    "VARIANTS",
    "FrozenBatchNorm",
    "TimbralBlock",
    "TemporalBlock",
    "MidEnd",
    "BackEnd",
    "Musicnn",
    "Vgg",
    "build_network",
    "musicnn_variable_names",
    "vgg_variable_names",
]

TF_BATCHNORM_EPS = 1e-3
"""Epsilon of ``tf.compat.v1.layers.batch_normalization`` (its default, used by musicnn)."""

N_MELS = 96


# --------------------------------------------------------------------------------------
# Loading helpers
# --------------------------------------------------------------------------------------


class _Weights:
    """Checked access to a ``{tf_variable_name: array}`` dict."""

    def __init__(self, tensors: Mapping[str, object], network: str):
        self.tensors = tensors
        self.network = network

    def get(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        if name not in self.tensors:
            raise ValueError(f"{self.network}: variable {name!r} is missing from the tensors (expected shape {shape})")
        arr = np.asarray(self.tensors[name])
        if tuple(arr.shape) != tuple(shape):
            raise ValueError(f"{self.network}: variable {name!r} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{self.network}: variable {name!r} has dtype {arr.dtype}, expected float")
        return torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))

    def shape_of(self, name: str) -> tuple[int, ...]:
        if name not in self.tensors:
            raise ValueError(f"{self.network}: variable {name!r} is missing from the tensors")
        return tuple(np.shape(self.tensors[name]))


def _conv2d_from_tf(conv: nn.Conv2d, w: _Weights, name: str) -> None:
    """Load a ``tf.layers.conv2d`` (kernel HWIO, bias) into an ``nn.Conv2d`` (OIHW)."""
    o, i, kh, kw = conv.weight.shape
    kernel = w.get(f"{name}/kernel", (kh, kw, i, o))
    with torch.no_grad():
        conv.weight.copy_(kernel.permute(3, 2, 0, 1))
        conv.bias.copy_(w.get(f"{name}/bias", (o,)))


def _conv1d_from_tf(conv: nn.Conv1d, w: _Weights, name: str) -> None:
    """Load a TF conv2d whose kernel spans the whole feature axis, shape (k, C_in, 1, C_out),
    into an ``nn.Conv1d`` over time (weight (C_out, C_in, k))."""
    o, i, k = conv.weight.shape
    kernel = w.get(f"{name}/kernel", (k, i, 1, o))
    with torch.no_grad():
        conv.weight.copy_(kernel[:, :, 0, :].permute(2, 1, 0))
        conv.bias.copy_(w.get(f"{name}/bias", (o,)))


def _linear_from_tf(linear: nn.Linear, w: _Weights, name: str) -> None:
    """Load a ``tf.layers.dense`` (kernel (in, out)) into an ``nn.Linear`` (weight (out, in))."""
    o, i = linear.weight.shape
    with torch.no_grad():
        linear.weight.copy_(w.get(f"{name}/kernel", (i, o)).T)
        linear.bias.copy_(w.get(f"{name}/bias", (o,)))


class FrozenBatchNorm(nn.Module):
    """Batch normalisation in inference mode over dim 1 (channels) of any-rank input:
    ``gamma * (x - moving_mean) / sqrt(moving_variance + eps) + beta``.

    Always uses the moving statistics (``.train()`` has no effect), eps = 1e-3 as in TF.
    """

    def __init__(self, num_features: int, eps: float = TF_BATCHNORM_EPS):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))  # gamma
        self.register_buffer("bias", torch.zeros(num_features))  # beta
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def load_tf(self, w: _Weights, name: str) -> None:
        n = (self.num_features,)
        with torch.no_grad():
            self.weight.copy_(w.get(f"{name}/gamma", n))
            self.bias.copy_(w.get(f"{name}/beta", n))
            self.running_mean.copy_(w.get(f"{name}/moving_mean", n))
            self.running_var.copy_(w.get(f"{name}/moving_variance", n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


# --------------------------------------------------------------------------------------
# musicnn
# --------------------------------------------------------------------------------------


class TimbralBlock(nn.Module):
    """Front-end timbral filter bank: a (7 frames x ``height`` mel bands) conv, valid in
    frequency, zero-padded 3+3 frames in time (so 187 frames in -> 187 out), ReLU, BN,
    then max over the remaining frequency positions.

    (B, 1, 187, 96) -> (B, filters, 187)
    """

    def __init__(self, height: int, filters: int, n_mels: int = N_MELS, time_kernel: int = 7):
        super().__init__()
        self.time_pad = (time_kernel - 1) // 2
        self.conv = nn.Conv2d(1, filters, (time_kernel, height))
        self.bn = FrozenBatchNorm(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, self.time_pad, self.time_pad))  # (B, 1, T+6, 96)
        x = self.bn(F.relu(self.conv(x)))  # (B, filters, T, 96 - height + 1)
        return x.amax(dim=3)  # (B, filters, T)


class TemporalBlock(nn.Module):
    """Front-end temporal filter bank: a (``length`` frames x 1 band) conv with TF "same"
    padding in time (``(length-1)//2`` frames before, ``length//2`` after), ReLU, BN, max
    over the 96 mel bands.

    (B, 1, 187, 96) -> (B, filters, 187)
    """

    def __init__(self, length: int, filters: int):
        super().__init__()
        self.pad_before = (length - 1) // 2
        self.pad_after = length - 1 - self.pad_before
        self.conv = nn.Conv2d(1, filters, (length, 1))
        self.bn = FrozenBatchNorm(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, self.pad_before, self.pad_after))  # (B, 1, T+length-1, 96)
        x = self.bn(F.relu(self.conv(x)))  # (B, filters, T, 96)
        return x.amax(dim=3)  # (B, filters, T)


class MidEnd(nn.Module):
    """Three 1-D convolutions over time (kernel 7, zero-padded 3+3), each ReLU then BN;
    the 2nd and 3rd add a residual connection (after BN).

    (B, 561, T) -> cnn1, cnn2, cnn3, each (B, filters, T)
    """

    def __init__(self, in_channels: int, filters: int, kernel: int = 7):
        super().__init__()
        self.pad = (kernel - 1) // 2
        self.conv1 = nn.Conv1d(in_channels, filters, kernel)
        self.bn1 = FrozenBatchNorm(filters)
        self.conv2 = nn.Conv1d(filters, filters, kernel)
        self.bn2 = FrozenBatchNorm(filters)
        self.conv3 = nn.Conv1d(filters, filters, kernel)
        self.bn3 = FrozenBatchNorm(filters)

    def _layer(self, x: torch.Tensor, conv: nn.Conv1d, bn: FrozenBatchNorm) -> torch.Tensor:
        return bn(F.relu(conv(F.pad(x, (self.pad, self.pad)))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cnn1 = self._layer(x, self.conv1, self.bn1)  # (B, filters, T)
        cnn2 = self._layer(cnn1, self.conv2, self.bn2) + cnn1
        cnn3 = self._layer(cnn2, self.conv3, self.bn3) + cnn2
        return cnn1, cnn2, cnn3


class BackEnd(nn.Module):
    """Global max and mean pooling over time, BN, dense + ReLU, BN, dense (logits).

    Quirk of the original: TF concatenates max and mean on a trailing axis before
    flattening, so the dense layer sees them interleaved per feature:
    ``[max_0, mean_0, max_1, mean_1, ...]`` (2 * 753 = 1506 inputs).

    (B, C, T) -> logits (B, n_labels), penultimate (B, units), mean (B, C), max (B, C)
    """

    def __init__(self, channels: int, units: int, n_labels: int):
        super().__init__()
        self.bn_pool = FrozenBatchNorm(2 * channels)
        self.dense = nn.Linear(2 * channels, units)
        self.bn_dense = FrozenBatchNorm(units)
        self.output = nn.Linear(units, n_labels)

    def forward(self, x: torch.Tensor):
        max_pool = x.amax(dim=2)  # (B, C)
        mean_pool = x.mean(dim=2)  # (B, C)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # (B, 2C) interleaved
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))  # (B, units)
        logits = self.output(penultimate)  # (B, n_labels)
        return logits, penultimate, mean_pool, max_pool


class Musicnn(nn.Module):
    """musicnn (Pons & Serra 2019) for (B, 187, 96) log-mel patches.

    Front end (from the BN-normalised input, all outputs (B, C, T)):
      timbral: 204 filters 7x38 ("f74") and 204 filters 7x67 ("f77"), max over frequency;
      temporal: 51 filters each of 128x1, 64x1, 32x1, max over frequency.
      Concatenated: 204 + 204 + 3 * 51 = 561 channels.
    Mid end: 3 x Conv1d(k=7) with residuals, ``midend_filters`` (64) channels each.
    Back end: dense connection [front end, cnn1, cnn2, cnn3] = 753 channels, max & mean over
    time, BN, dense(``backend_units`` = 200) + ReLU + BN, dense(``n_labels``).

    TF variable names, in order of creation: input BN ``batch_normalization``; timbral
    ``conv2d``/``batch_normalization_1`` (7x38), ``conv2d_1``/``_2`` (7x67); temporal
    ``conv2d_2..4``/``batch_normalization_3..5`` (128, 64, 32 frames); mid end
    ``conv2d_5..7``/``batch_normalization_6..8``; back end ``batch_normalization_9``,
    ``dense``, ``batch_normalization_10``, ``dense_1``.
    """

    TIMBRAL_HEIGHTS = (int(0.4 * N_MELS), int(0.7 * N_MELS))  # (38, 67) mel bands
    TEMPORAL_LENGTHS = (128, 64, 32)  # frames
    TIMBRAL_FILTERS = int(1.6 * 128)  # 204
    TEMPORAL_FILTERS = int(1.6 * 32)  # 51

    def __init__(self, n_labels: int = 50, midend_filters: int = 64, backend_units: int = 200):
        super().__init__()
        self.n_labels = n_labels
        self.input_bn = FrozenBatchNorm(1)
        self.timbral = nn.ModuleList(TimbralBlock(h, self.TIMBRAL_FILTERS) for h in self.TIMBRAL_HEIGHTS)
        self.temporal = nn.ModuleList(TemporalBlock(n, self.TEMPORAL_FILTERS) for n in self.TEMPORAL_LENGTHS)
        frontend_channels = len(self.timbral) * self.TIMBRAL_FILTERS + len(self.temporal) * self.TEMPORAL_FILTERS
        self.midend = MidEnd(frontend_channels, midend_filters)
        self.backend = BackEnd(frontend_channels + 3 * midend_filters, backend_units, n_labels)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, object]) -> "Musicnn":
        """Build from TF variables (``{name: array}``); widths are read from the tensors
        (so MSD_musicnn_big works too) and every variable's shape is checked."""
        w = _Weights(tensors, "musicnn")
        midend_filters = w.shape_of("conv2d_5/kernel")[-1]
        backend_units = w.shape_of("dense/kernel")[-1]
        n_labels = w.shape_of("dense_1/kernel")[-1]
        net = cls(n_labels=n_labels, midend_filters=midend_filters, backend_units=backend_units)
        net.input_bn.load_tf(w, "batch_normalization")
        blocks = list(net.timbral) + list(net.temporal)
        for i, block in enumerate(blocks):  # conv2d..conv2d_4, batch_normalization_1..5
            _conv2d_from_tf(block.conv, w, tf_name("conv2d", i))
            block.bn.load_tf(w, tf_name("batch_normalization", i + 1))
        mid = net.midend
        for j, (conv, bn) in enumerate([(mid.conv1, mid.bn1), (mid.conv2, mid.bn2), (mid.conv3, mid.bn3)]):
            _conv1d_from_tf(conv, w, tf_name("conv2d", len(blocks) + j))
            bn.load_tf(w, tf_name("batch_normalization", len(blocks) + 1 + j))
        back = net.backend
        back.bn_pool.load_tf(w, "batch_normalization_9")
        _linear_from_tf(back.dense, w, "dense")
        back.bn_dense.load_tf(w, "batch_normalization_10")
        _linear_from_tf(back.output, w, "dense_1")
        return net.eval()

    # -- inference ----------------------------------------------------------------------

    def _run(self, patches: torch.Tensor):
        if patches.dim() != 3 or patches.shape[2] != N_MELS:
            raise ValueError(f"expected patches of shape (B, T, {N_MELS}), got {tuple(patches.shape)}")
        x = self.input_bn(patches.unsqueeze(1))  # (B, 1, T, 96)
        timbral = [block(x) for block in self.timbral]  # 2 x (B, 204, T)
        temporal = [block(x) for block in self.temporal]  # 3 x (B, 51, T)
        frontend = torch.cat(timbral + temporal, dim=1)  # (B, 561, T)
        cnn1, cnn2, cnn3 = self.midend(frontend)  # 3 x (B, 64, T)
        dense = torch.cat([frontend, cnn1, cnn2, cnn3], dim=1)  # (B, 753, T)
        logits, penultimate, mean_pool, max_pool = self.backend(dense)
        return logits, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool, penultimate

    def logits(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, T, 96) log-mel patches -> (B, n_labels) logits. Any T >= 1 works (musicnn is
        fully convolutional up to the global pooling); the models were trained with T = 187."""
        return self._run(patches)[0]

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, T, 96) log-mel patches -> (B, n_labels) tag probabilities (sigmoid)."""
        return torch.sigmoid(self.logits(patches))

    def extract(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Tag probabilities, logits and musicnn's intermediate features.

        Layouts (channels last, like the original's arrays; reshape the frame-level ones to
        ``(B * T, C)`` to get musicnn's "patches stacked on the time axis"):

        - ``taggram``, ``logits``: (B, n_labels)
        - ``timbral``: (B, T, 408) = [7x38 filters, 7x67 filters], each max over frequency
        - ``temporal``: (B, T, 153) = [128-, 64-, 32-frame filters]
        - ``cnn1``, ``cnn2``, ``cnn3``: (B, T, 64) mid-end outputs (cnn2, cnn3 include the
          residual sums)
        - ``mean_pool``, ``max_pool``: (B, 753) pooled over time
        - ``penultimate``: (B, 200) after the back end's second batch norm
        """
        logits, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool, penult = self._run(patches)
        return {
            "taggram": torch.sigmoid(logits),
            "logits": logits,
            "timbral": torch.cat(timbral, dim=1).transpose(1, 2),
            "temporal": torch.cat(temporal, dim=1).transpose(1, 2),
            "cnn1": cnn1.transpose(1, 2),
            "cnn2": cnn2.transpose(1, 2),
            "cnn3": cnn3.transpose(1, 2),
            "mean_pool": mean_pool,
            "max_pool": max_pool,
            "penultimate": penult,
        }


# --------------------------------------------------------------------------------------
# VGG
# --------------------------------------------------------------------------------------


class Vgg(nn.Module):
    """musicnn's VGG-like baseline for (B, 187, 96) log-mel patches.

    Input BN, then five blocks of 3x3 conv ("same" padding, 128 filters), ReLU, BN, max
    pool (valid): pool sizes/strides (4x1 / 2x2), (2x2 / 2), (2x2 / 2), (2x2 / 2), (4x4 / 4).
    Shapes (time x mel): 187x96 -> 92x48 -> 46x24 -> 23x12 -> 11x6 -> 2x1; flattened in TF's
    (time, mel, channel) order -> 256 -> dense(n_labels).

    TF variable names: ``batch_normalization`` (input), ``1CNN``..``5CNN`` with
    ``batch_normalization_1``..``_5``, ``dense``.
    """

    POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))

    def __init__(self, n_labels: int = 50, filters: int = 128, n_frames: int = 187, n_mels: int = N_MELS):
        super().__init__()
        self.n_labels = n_labels
        self.input_shape = (n_frames, n_mels)
        self.input_bn = FrozenBatchNorm(1)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        self.pools = nn.ModuleList()
        channels, t, f = 1, n_frames, n_mels
        for size, stride in self.POOLS:
            self.convs.append(nn.Conv2d(channels, filters, 3, padding=1))  # TF "same", odd k
            self.bns.append(FrozenBatchNorm(filters))
            self.pools.append(nn.MaxPool2d(size, stride))
            channels = filters
            t = (t - size[0]) // stride[0] + 1
            f = (f - size[1]) // stride[1] + 1
        self.flat_features = t * f * filters  # 2 * 1 * 128 = 256
        self.output = nn.Linear(self.flat_features, n_labels)

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, object]) -> "Vgg":
        """Build from TF variables (``{name: array}``), checking every shape."""
        w = _Weights(tensors, "vgg")
        filters = w.shape_of("1CNN/kernel")[-1]
        n_labels = w.shape_of("dense/kernel")[-1]
        net = cls(n_labels=n_labels, filters=filters)
        net.input_bn.load_tf(w, "batch_normalization")
        for i, (conv, bn) in enumerate(zip(net.convs, net.bns)):
            _conv2d_from_tf(conv, w, f"{i + 1}CNN")
            bn.load_tf(w, f"batch_normalization_{i + 1}")
        _linear_from_tf(net.output, w, "dense")
        return net.eval()

    def _run(self, patches: torch.Tensor):
        if patches.dim() != 3 or tuple(patches.shape[1:]) != self.input_shape:
            raise ValueError(
                f"expected patches of shape (B, {self.input_shape[0]}, {self.input_shape[1]}) "
                f"(the VGG models only take 3-s patches), got {tuple(patches.shape)}"
            )
        x = self.input_bn(patches.unsqueeze(1))  # (B, 1, 187, 96)
        pools = []
        for conv, bn, pool in zip(self.convs, self.bns, self.pools):
            x = pool(bn(F.relu(conv(x))))  # (B, 128, t, f)
            pools.append(x)
        flat = x.permute(0, 2, 3, 1).flatten(1)  # TF NHWC flatten order, (B, 256)
        return self.output(flat), pools

    def logits(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, 187, 96) log-mel patches -> (B, n_labels) logits."""
        return self._run(patches)[0]

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, 187, 96) log-mel patches -> (B, n_labels) tag probabilities (sigmoid)."""
        return torch.sigmoid(self.logits(patches))

    def extract(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """``taggram``, ``logits`` (B, n_labels) and ``pool1``..``pool5`` in TF's layout
        (B, time, mel, 128): (92, 48), (46, 24), (23, 12), (11, 6), (2, 1)."""
        logits, pools = self._run(patches)
        out = {"taggram": torch.sigmoid(logits), "logits": logits}
        for i, p in enumerate(pools):
            out[f"pool{i + 1}"] = p.permute(0, 2, 3, 1)
        return out


# --------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------

_FAMILIES = {"musicnn": Musicnn, "vgg": Vgg}


def build_network(architecture: str, tensors: Mapping[str, object]) -> Musicnn | Vgg:
    """Build an eval-mode network from TF checkpoint variables.

    ``architecture`` is a family (``"musicnn"``, ``"vgg"``) or a variant name from
    :data:`VARIANTS` (``"MSD_musicnn"``, ...). For a variant, the number of outputs is
    checked against its label list.
    """
    variant = VARIANTS.get(architecture)
    family = variant.architecture if variant else architecture
    if family not in _FAMILIES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {sorted(_FAMILIES)} or a variant {sorted(VARIANTS)}")
    net = _FAMILIES[family].from_tensors(tensors)
    if variant is not None and net.n_labels != variant.n_labels:
        raise ValueError(f"{architecture}: checkpoint has {net.n_labels} outputs, the variant has {variant.n_labels} labels")
    return net
