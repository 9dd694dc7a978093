"""Spleeter's U-Net (one per stem) in torch, and loading from the TF1 checkpoint's variables.

Architecture (``spleeter.model.functions.unet.apply_unet``), one independent network per stem.
Layout here is NCHW = (batch, channels, time T, frequency F); TF ran NHWC with H = time,
W = frequency, so the 5x5 kernels span (time, frequency) in that order.

Encoder, six blocks ``conv 5x5 stride 2 "same" -> BatchNorm -> conv activation``::

    input |STFT| (B,   2, 512, 1024)
    conv1        (B,  16, 256,  512)     conv2 (B,  32, 128, 256)     conv3 (B,  64, 64, 128)
    conv4        (B, 128,  32,   64)     conv5 (B, 256,  16,  32)     conv6 (B, 512,  8,  16)

Decoder, six blocks ``conv-transpose 5x5 stride 2 "same" -> deconv activation -> BatchNorm``
(activation *before* BatchNorm; dropout 0.5 on the first three is inactive at inference),
each concatenated with the skip tensor (skip first)::

    up1 = T(conv6)           (B, 256,  16,  32)   cat conv5 -> (B, 512,  16,  32)
    up2 = T(.)               (B, 128,  32,  64)   cat conv4 -> (B, 256,  32,  64)
    up3 = T(.)               (B,  64,  64, 128)   cat conv3 -> (B, 128,  64, 128)
    up4 = T(.)               (B,  32, 128, 256)   cat conv2 -> (B,  64, 128, 256)
    up5 = T(.)               (B,  16, 256, 512)   cat conv1 -> (B,  32, 256, 512)
    up6 = T(.)               (B,   1, 512, 1024)
    out = conv 4x4 dilation 2 "same" (2 channels)            (B,   2, 512, 1024)

Quirks reproduced from spleeter:

- The skips and the decoder's input are the **raw convolution outputs** ``conv1..conv6``
  (before BatchNorm and activation); the encoder's last BatchNorm + activation is computed by
  spleeter but unused, so it is not evaluated here (its variables are still required).
- "same" padding of a stride-2 5x5 convolution on an even size pads 1 before and 2 after
  (TF puts the extra sample at the end; torch's symmetric ``padding`` cannot express that).
- TF's "same" transposed convolution crops the full ``2n + 3`` output to ``[1, 2n + 1)``.
- The last layer is a 4x4 kernel with dilation 2 (7x7 extent), padded 3 on each side.
- Keras BatchNormalization defaults: epsilon 1e-3 (momentum 0.99 only matters in training);
  inference uses the moving mean / variance.
- ``unet.unet`` models (2stems, 4stems) end in a sigmoid and multiply the input magnitude;
  ``unet.softmax_unet`` (5stems) takes a softmax across the stems' logits instead.

Variable names: Keras numbers layers of a type in creation order over the whole graph, with
stems built one after another in the config's ``instrument_list`` order. Stem ``i`` (0-based)
owns ``conv2d_{7i}`` .. ``conv2d_{7i+6}`` (six encoder convs, then the final 4x4 conv),
``conv2d_transpose_{6i}`` .. ``conv2d_transpose_{6i+5}`` and
``batch_normalization_{12i}`` .. ``batch_normalization_{12i+11}`` (six encoder, six decoder),
where suffix ``_0`` is written without suffix (``conv2d``). Kernels are HWIO for convolutions
and HWOI for transposed convolutions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# torch-free: listing variants and verifying files needs no torch
from .variants import ENCODER_FILTERS, MODEL_CONFIGS, checkpoint_problem, stem_variable_names

__all__ = [
    "MODEL_CONFIGS",
    "BN_EPSILON",
    "UNet",
    "StemNetworks",
    "build_networks",
    "load_networks",
    "rows_needed",
    "stem_variable_names",
]

BN_EPSILON = 1e-3
"""Keras ``BatchNormalization`` default epsilon, which spleeter keeps."""


def _activation(name: str) -> nn.Module:
    if name == "LeakyReLU":
        return nn.LeakyReLU(0.2)
    if name == "ELU":
        return nn.ELU(1.0)
    if name == "ReLU":
        return nn.ReLU()
    raise ValueError(f"unknown activation {name!r} (expected 'LeakyReLU', 'ELU' or 'ReLU')")


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one axis: the extra sample goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _DownBlock(nn.Module):
    """conv 5x5 stride 2 ("same") -> (BatchNorm -> activation, used by the next block only)."""

    def __init__(self, c_in: int, c_out: int, activation: str):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=5, stride=2)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPSILON)
        self.act = _activation(activation)

    def conv_same(self, x: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """TF "same" conv of ``x``, whose time axis is the first rows of a tensor of ``length``
        rows (default: all of it): padded as that tensor would be, then cut off after the rows given."""
        pt = _same_pads(x.shape[-2] if length is None else length, 5, 2)
        pf = _same_pads(x.shape[-1], 5, 2)
        return self.conv(F.pad(x, (pf[0], pf[1], pt[0], pt[1])))

    def forward(self, x: torch.Tensor, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (raw conv output, activated batch-normed output)."""
        c = self.conv_same(x, length)
        return c, self.act(self.bn(c))


class _UpBlock(nn.Module):
    """conv-transpose 5x5 stride 2 ("same": output = 2 x input) -> activation -> BatchNorm."""

    def __init__(self, c_in: int, c_out: int, activation: str):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, kernel_size=5, stride=2)
        self.act = _activation(activation)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, f = x.shape[-2:]
        full = self.deconv(x)  # (B, c_out, 2t + 3, 2f + 3)
        # TF SAME conv-transpose = gradient of a SAME stride-2 conv on a (2t, 2f) input, whose
        # padding before is _same_pads(2t, 5, 2)[0] (= 1): crop that many leading samples.
        bt = _same_pads(2 * t, 5, 2)[0]
        bf = _same_pads(2 * f, 5, 2)[0]
        y = full[..., bt : bt + 2 * t, bf : bf + 2 * f]
        return self.bn(self.act(y))


class UNet(nn.Module):
    """One stem's U-Net: input magnitude ``(B, 2, T, F)`` -> output ``(B, 2, T, F)``.

    With ``output_logits=False`` (``unet.unet``) the output is ``sigmoid(mask) * input``, the
    stem's estimated magnitude spectrogram. With ``output_logits=True`` (``softmax_unet``) it is
    the raw mask logits; :class:`StemNetworks` then applies the softmax across stems.
    ``T`` and ``F`` must be multiples of 64 (spleeter: T = 512, F = 1024).
    """

    def __init__(
        self,
        conv_activation: str = "LeakyReLU",
        deconv_activation: str = "ReLU",
        filters: Sequence[int] = ENCODER_FILTERS,
        in_channels: int = 2,
        output_logits: bool = False,
    ):
        super().__init__()
        if len(filters) != 6:
            raise ValueError("spleeter's U-Net has six encoder blocks")
        self.output_logits = output_logits
        chans = [in_channels, *filters]
        self.down = nn.ModuleList(_DownBlock(chans[i], chans[i + 1], conv_activation) for i in range(6))
        # Decoder input channels: conv6 alone, then [skip, up] concatenations.
        up_out = [filters[4], filters[3], filters[2], filters[1], filters[0], 1]
        up_in = [filters[5]] + [2 * c for c in up_out[:5]]
        self.up = nn.ModuleList(_UpBlock(up_in[i], up_out[i], deconv_activation) for i in range(6))
        # 4x4 kernel, dilation 2 -> extent 7, TF "same" (stride 1): 3 before, 3 after.
        self.final = nn.Conv2d(1, in_channels, kernel_size=4, dilation=2, padding=3)

    def forward(self, mag: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """``mag (B, 2, T, F)`` -> ``(B, 2, frames, F)``: the output's first ``frames`` time
        frames (default: all T).

        Each layer is evaluated only on the rows that reach those frames (:func:`rows_needed`),
        padded as in the whole tensor: the same numbers as the whole output's first ``frames``
        rows (the rest of the T frames still shape them through the U-Net's deep layers, whose
        rows all reach them), for far less work when most of a segment is padding.
        """
        length = mag.shape[-2]
        needed = rows_needed(length, length if frames is None else frames)
        x = mag[..., : needed["input"], :]
        skips = []
        for i, block in enumerate(self.down):
            rows = needed["conv"][i]
            if i < 5:
                conv, x = block(x, length >> i)  # conv: raw output (skip), x: BN + activation (next input)
                skips.append(conv[..., :rows, :])
                x = x[..., :rows, :]
            else:
                x = block.conv_same(x, length >> i)[..., :rows, :]  # conv6; its BN + activation are unused by spleeter
        for i, block in enumerate(self.up):
            x = block(x)[..., : needed["up"][i], :]
            if i < 5:
                x = torch.cat([skips[4 - i][..., : needed["up"][i], :], x], dim=1)
        logits = self.final(x)[..., : needed["output"], :]
        if self.output_logits:
            return logits
        return torch.sigmoid(logits) * mag[..., : needed["output"], :]


def rows_needed(length: int, frames: int) -> dict:
    """Rows (time frames, from the first) of each layer of the U-Net on a ``length``-frame input
    that its output's first ``frames`` frames depend on: ``input``, ``conv`` (six encoder
    outputs), ``up`` (six decoder outputs, after the crop) and ``output`` (= ``frames``).

    Dependencies along time (TF "same" geometry, ``length`` a multiple of 64): encoder output
    ``j`` reads input rows ``2j - 1 .. 2j + 3``; a decoder output ``r`` reads input rows up to
    ``(r + 1) // 2``; the final 4x4 conv (dilation 2) reads rows ``r - 3 .. r + 3``.
    """
    if not 1 <= frames <= length or length % 64:
        raise ValueError(f"frames must be 1..{length} of a multiple of 64, got {frames} of {length}")
    up = [0] * 6  # rows of each decoder block's output (after the skip is concatenated: the same rows)
    up[5] = min(length, frames + 3)
    for i in range(5, 0, -1):  # decoder block i reads ... rows of block i - 1's output (and of its skip)
        up[i - 1] = min(length >> (5 - i + 1), up[i] // 2 + 1)
    conv = [0] * 6
    conv[5] = min(length >> 6, up[0] // 2 + 1)  # the first decoder block reads conv6
    for i in range(4, -1, -1):  # conv_{i+1} feeds conv_{i+2} and is the skip of decoder block 4 - i
        conv[i] = max(up[4 - i], min(length >> (i + 1), 2 * conv[i + 1] + 2))
    return {"input": max(frames, min(length, 2 * conv[0] + 2)), "conv": conv, "up": up, "output": frames}


class StemNetworks(nn.Module):
    """All stems' U-Nets of one spleeter model; ``forward`` gives each stem's magnitude estimate.

    Attributes: ``stems`` (checkpoint order), ``nets`` (``nn.ModuleDict`` stem -> :class:`UNet`),
    ``mask`` ("sigmoid" or "softmax"), ``n_bins`` (frequency bins fed to the nets, spleeter's F).
    """

    def __init__(self, nets: Mapping[str, UNet], mask: str = "sigmoid", n_bins: int = 1024):
        super().__init__()
        if mask not in ("sigmoid", "softmax"):
            raise ValueError(f"mask must be 'sigmoid' or 'softmax', got {mask!r}")
        self.nets = nn.ModuleDict(dict(nets))
        self.stems = list(nets.keys())
        self.mask = mask
        self.n_bins = n_bins

    def forward(self, mag: torch.Tensor, frames: int | None = None, workers: Any = None) -> dict[str, torch.Tensor]:
        """``mag (B, 2, T, n_bins)`` -> {stem: estimated magnitude (B, 2, frames, n_bins)} for the
        first ``frames`` time frames (default: all T). With ``workers`` (:class:`stemlime.workers.CpuWorkers`)
        the stems' U-Nets run on the one-core worker threads, one stem per task."""
        nets = list(self.nets.values())
        if workers is None:
            outputs = [net(mag, frames) for net in nets]
        else:
            inference = torch.is_inference_mode_enabled()

            def task(net):
                def run():
                    with torch.inference_mode(inference):  # per thread: entered in the worker
                        return net(mag, frames)

                return run

            outputs = workers.run([task(net) for net in nets])
        if self.mask == "sigmoid":
            return dict(zip(self.stems, outputs))
        masks = torch.softmax(torch.stack(outputs, dim=-1), dim=-1)
        return {stem: masks[..., k] * mag[..., : masks.shape[-3], :] for k, stem in enumerate(self.stems)}


def _take(tensors: Mapping[str, np.ndarray], name: str, axes: tuple[int, ...] | None = None) -> torch.Tensor:
    """Its own float32 copy of one variable, axes permuted to ``axes`` (names and shapes are
    checked by ``checkpoint_problem`` first). numpy transposes a kernel several times faster than torch."""
    return torch.from_numpy(np.array(np.asarray(tensors[name]).transpose(axes), dtype=np.float32, order="C"))


def _parameter(tensor: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(tensor, requires_grad=False)


def _load_bn(bn: nn.BatchNorm2d, tensors, layer: str) -> None:
    bn.weight = _parameter(_take(tensors, f"{layer}/gamma"))
    bn.bias = _parameter(_take(tensors, f"{layer}/beta"))
    bn.running_mean = _take(tensors, f"{layer}/moving_mean")
    bn.running_var = _take(tensors, f"{layer}/moving_variance")
    bn.num_batches_tracked = torch.zeros((), dtype=torch.long)


def _load_conv(conv: nn.Conv2d, tensors, layer: str) -> None:
    conv.weight = _parameter(_take(tensors, f"{layer}/kernel", (3, 2, 0, 1)))  # HWIO -> OIHW
    conv.bias = _parameter(_take(tensors, f"{layer}/bias"))


def _load_deconv(deconv: nn.ConvTranspose2d, tensors, layer: str) -> None:
    deconv.weight = _parameter(_take(tensors, f"{layer}/kernel", (3, 2, 0, 1)))  # HWOI -> IOHW
    deconv.bias = _parameter(_take(tensors, f"{layer}/bias"))


def build_networks(
    tensors: Mapping[str, np.ndarray],
    stems: Sequence[str],
    conv_activation: str = "LeakyReLU",
    deconv_activation: str = "ReLU",
    mask: str = "sigmoid",
    n_bins: int = 1024,
) -> StemNetworks:
    """Build every stem's U-Net from a spleeter checkpoint's variables.

    Parameters
    ----------
    tensors : {TF variable name: array}, e.g. ``stemlime.models.load_tensors("spleeter/2stems")``.
    stems : stem names **in the model's instrument_list order** (it fixes which numbered
        variables belong to which stem), e.g. ``MODEL_CONFIGS["4stems"]["stems"]``.
    conv_activation, deconv_activation, mask, n_bins : the model's configuration (see
        :data:`MODEL_CONFIGS`; the defaults are spleeter's defaults, i.e. the 2stems model).

    Returns a :class:`StemNetworks` in eval mode (float32, CPU).

    Raises ``ValueError`` naming the variable (and its stem) when one is missing or has the
    wrong shape, or when the checkpoint holds more stems' networks than ``stems``.
    """
    stems = list(stems)
    if not stems or len(set(stems)) != len(stems):
        raise ValueError(f"stems must be a non-empty list of distinct names, got {stems}")
    problem = checkpoint_problem({name: np.shape(value) for name, value in tensors.items()}, stems)
    if problem is not None:
        raise ValueError(f"the spleeter checkpoint {problem}")
    nets: dict[str, UNet] = {}
    for i, stem in enumerate(stems):
        with torch.device("meta"):  # shapes only: every tensor is then set from the checkpoint
            net = UNet(conv_activation, deconv_activation, output_logits=(mask == "softmax"))
        names = stem_variable_names(i)
        for k, block in enumerate(net.down):
            _load_conv(block.conv, tensors, names["conv"][k])
            _load_bn(block.bn, tensors, names["bn"][k])
        for k, block in enumerate(net.up):
            _load_deconv(block.deconv, tensors, names["deconv"][k])
            _load_bn(block.bn, tensors, names["bn"][6 + k])
        _load_conv(net.final, tensors, names["conv"][6])
        nets[stem] = net
    model = StemNetworks(nets, mask=mask, n_bins=n_bins)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_networks(model: str = "2stems", model_dir: Path | None = None) -> StemNetworks:
    """The networks of ``model`` ("2stems", "4stems" or "5stems", see :data:`MODEL_CONFIGS`),
    from the model cache's verified copy, or from ``model_dir``'s checkpoint files
    (``model.index``, ``model.data-00000-of-00001``, read with every checksum)."""
    from stemlime.plugin import load_tensors

    if model not in MODEL_CONFIGS:
        raise ValueError(f"unknown spleeter model {model!r}; expected one of {sorted(MODEL_CONFIGS)}")
    cfg = MODEL_CONFIGS[model]
    return build_networks(
        load_tensors(f"spleeter/{model}", model_dir),
        cfg["stems"],
        conv_activation=cfg["conv_activation"],
        deconv_activation=cfg["deconv_activation"],
        mask=cfg["mask"],
        n_bins=cfg["n_bins"],
    )
