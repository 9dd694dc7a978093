"""Inference-only musicnn and VGG networks with their batch norms folded away.

Every convolution of the trained networks is followed by ReLU, then an inference-mode batch
norm ``s * x + t`` (``s = gamma / sqrt(moving_variance + eps)``, ``t = beta - s *
moving_mean``), then often a max-pool (musicnn's front end: max over frequency; VGG: 2-D
max-pools). Three exact rewrites remove the wide elementwise passes:

- **Fold the scale into the convolution.** ``s * relu(z) = sign(s) * relu(sign(s) * s * z)``
  for any real ``s`` (for ``s > 0`` it is ``relu(s z)``, for ``s < 0`` it is ``min(s z, 0)``),
  so the convolution computes ``u = s * z`` with weights ``s * w`` and bias ``s * b``.
- **Pool first.** ``u -> sign * relu(sign * u) + t`` is monotone non-decreasing in ``u`` for
  either sign (``relu`` is, and the two sign flips cancel), and a max commutes with monotone
  non-decreasing maps: ``max(g(u)) = g(max(u))``. So the max-pool runs on ``u`` and the
  ReLU/shift on the pooled tensor, 59x to 96x smaller in musicnn's front end. (Pooling the
  unscaled ``z`` first would be wrong for the many channels whose trained ``s`` is negative:
  ``s * x`` flips a max into a min.)
- **Add the bias after the pool.** It is one constant per channel, and ``max(u + c) =
  max(u) + c``; added to the pooled tensor it stays float32 under bfloat16 autocast.

The back end's batch norms sit between a pooling and a dense layer (or between the ReLU and
the output layer), so they fold into the dense layers' weights and biases outright, and the
interleaved ``[max_0, mean_0, max_1, ...]`` input order becomes ``[max..., mean...]``.

bfloat16 (autocast; on a CPU with native bfloat16, oneDNN's bfloat16 convolutions) covers the
convolutions of musicnn's front end and of VGG, ~95% of the work; musicnn's mid end and back
end and VGG's output layer stay float32. On 60 real patches
that keeps the probabilities within 4.3e-3 of float32 (MSD_musicnn; the trained layers all in
bfloat16: 1.2e-2).

The folded networks are built from (and never replace) the modules of
:mod:`stemlime_musicnn.networks`, which stay the source of truth: ``extract`` and the
randomization of the sanity check use those. Build a new folded network after changing the
weights (:func:`fold` copies them).

Memory. musicnn's front end is evaluated in slices of frames so that each convolution's wide
output, ``(filters, frames, bands)``, stays a few MB: small enough to stay in cache for the max
that follows, and to be recycled by the memory allocator instead of being page-faulted in fresh
on every call (the trained layers at batch 32 made 2.4 million page faults per 96 patches).
On the CPU in float32 the convolution and the max-pool run as oneDNN primitives on oneDNN's
own blocked layout (8 channels interleaved), so the wide output is never reordered into
PyTorch's layout.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .networks import N_MELS, FrozenBatchNorm, Musicnn, Vgg

__all__ = ["SignedRelu", "FoldedMusicnn", "FoldedVgg", "fold", "batch_norm_affine", "gemm_weight", "gemm_max_over_bands"]

FRONTEND_OUTPUT_BYTES = 2**22
"""On the CPU, the size of one front-end convolution output, in bytes: the frames per call are
chosen so that ``filters x frames x bands`` float32 values fill about this much (4 MiB)."""

PATCHES_PER_GROUP = 4
"""On the CPU, musicnn patches that go through the network together (about 1 MB of buffers
each; the front end is sliced further). VGG goes one patch at a time (4.6 MB of conv output
each). A GPU takes the whole batch at once."""

FAST_MAX_WIDTH = 32
"""PyTorch reduces an innermost axis of 32 values about 5x faster than one of 59 (the bands
left by the 7x38 timbral filters); used where oneDNN is not (CUDA, bfloat16)."""


def batch_norm_affine(bn: FrozenBatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` of an inference-mode batch norm, in float64: the norm is
    ``scale * x + shift`` per channel."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = bn.bias.double() - scale * bn.running_mean.double()
    return scale, shift


def _per_channel(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(C,) -> (1, C, 1, ...) to broadcast over ``like``'s channel axis (dim 1)."""
    return values.view((1, -1) + (1,) * (like.dim() - 2))


class SignedRelu(nn.Module):
    """``sign * relu(sign * (u + bias)) + shift`` per channel (dim 1): ``bn(relu(z))`` for
    ``u + bias = s * z``, where ``u`` is the folded conv's output without its bias.

    ``sign`` is +1 where the batch norm's scale ``s`` is >= 0, else -1. Monotone
    non-decreasing in ``u``, so it commutes with max-pooling. Any shape ``(B, C, ...)``; float32
    out (the bias promotes a bfloat16 ``u``).
    """

    def __init__(self, scale: torch.Tensor, bias: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        sign = torch.where(scale < 0, -1.0, 1.0).float()
        self.register_buffer("sign", sign)
        self.register_buffer("bias", bias.float())
        self.register_buffer("shift", shift.float())
        self.all_positive = bool((sign > 0).all())

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        v = u + _per_channel(self.bias, u)
        if self.all_positive:
            return torch.relu_(v).add_(_per_channel(self.shift, u))
        sign = _per_channel(self.sign, u)
        return torch.relu_(v.mul_(sign)).mul_(sign).add_(_per_channel(self.shift, u))


def max_over_bands(wide: torch.Tensor) -> torch.Tensor:
    """(B, C, T, W) -> (B, C, T): max over the last axis, in overlapping windows of
    :data:`FAST_MAX_WIDTH` where that is faster (a max does not mind seeing a value twice)."""
    width = wide.shape[-1]
    if width % FAST_MAX_WIDTH == 0 or width < FAST_MAX_WIDTH:
        return wide.amax(dim=-1)
    starts = list(range(FAST_MAX_WIDTH, width - FAST_MAX_WIDTH, FAST_MAX_WIDTH)) + [width - FAST_MAX_WIDTH]
    out = wide[..., :FAST_MAX_WIDTH].amax(dim=-1)
    for start in starts:
        torch.maximum(out, wide[..., start : start + FAST_MAX_WIDTH].amax(dim=-1), out=out)
    return out


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # PyTorch < 2.4
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


@functools.lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), so that oneDNN's
    bfloat16 convolutions are faster than float32 ones instead of emulated (~30x slower)."""
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _autocast_dtype(device_type: str) -> torch.dtype:
    try:
        return torch.get_autocast_dtype(device_type)
    except AttributeError:  # PyTorch < 2.4
        return torch.get_autocast_cpu_dtype() if device_type == "cpu" else torch.get_autocast_gpu_dtype()


def _onednn_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The dtype in which oneDNN's own tensors carry a conv + max-pool of ``x``, or None where
    they cannot: a float32 ``x`` on the CPU with oneDNN present and enabled; float32 without
    autocast, bfloat16 under bfloat16 autocast on a CPU with native bfloat16 (autocast itself
    would not reach those calls)."""
    if not (x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return None
    if not _autocast_on("cpu"):
        return torch.float32
    if _autocast_dtype("cpu") == torch.bfloat16 and native_bfloat16():
        return torch.bfloat16
    return None


class _FoldedConv(nn.Module):
    """A ``conv -> ReLU -> batch norm`` sequence, folded: the conv's weights times ``s`` (its
    bias, times ``s``, goes into :attr:`post`, a :class:`SignedRelu`)."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d, bn: FrozenBatchNorm):
        super().__init__()
        scale, shift = batch_norm_affine(bn)
        weight = conv.weight.detach().double() * scale.view((-1,) + (1,) * (conv.weight.dim() - 1))
        self.register_buffer("weight", weight.float())
        self.post = SignedRelu(scale, conv.bias.detach().double() * scale, shift)
        self._onednn_weights = {}  # dtype -> the 2-D weight in oneDNN's layout, made on first use

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_onednn_weights"] = {}  # opaque oneDNN tensors: not copyable, remade on first use
        return state

    def conv_max_pool(
        self, x: torch.Tensor, padding: tuple[int, int], stride: tuple[int, int], pool_size: tuple[int, int], pool_stride: tuple[int, int]
    ) -> torch.Tensor:
        """``max_pool2d(conv2d(x, s * w, None, stride, padding), pool_size, pool_stride)``:
        (B, C_in, H, W) -> (B, C_out, H', W'). In float32 on the CPU both run as oneDNN
        primitives on oneDNN's blocked layout: the wide conv output is never reordered into
        PyTorch's layout (measured 1.3x to 1.5x faster than conv2d + amax). Under bfloat16
        autocast on a CPU with native bfloat16 they run in bfloat16 (float32 accumulation,
        bfloat16 output: 3.6x faster than float32 on one AMX core for the 7x38 timbral bank)."""
        dtype = _onednn_dtype(x)
        if dtype is not None:
            weight = self._onednn_weights.get(dtype)
            if weight is None:  # keyed by dtype alone: the callers keep each layer's input shape
                weight = self._onednn_weights[dtype] = torch.ops.aten.mkldnn_reorder_conv2d_weight(
                    self.weight.to_mkldnn(dtype), list(padding), list(stride), [1, 1], 1, list(x.shape)
                )
            wide = torch.mkldnn_convolution(x.contiguous().to_mkldnn(dtype), weight, None, list(padding), list(stride), [1, 1], 1)
            return torch.mkldnn_max_pool2d(wide, list(pool_size), list(pool_stride)).to_dense()
        wide = F.conv2d(x, self.weight, None, stride=stride, padding=padding)
        if pool_size == pool_stride == (1, wide.shape[3]):  # musicnn: max over all bands
            return max_over_bands(wide).unsqueeze(3)
        return F.max_pool2d(wide, pool_size, pool_stride)


class _FrontEndFilters(_FoldedConv):
    """One of musicnn's front-end filter banks, folded: conv(s * w) over (frames, bands) with
    ``pad_before`` zero frames (of the input's padding) in front, max over the bands, then
    (by the caller) :attr:`post`.

    ``gemm`` chooses the formulation: the convolution (oneDNN or cuDNN) or large matrix
    products (:func:`gemm_max_over_bands`, tensor cores on a GPU); None: products on a GPU,
    the convolution on the CPU."""

    def __init__(self, conv: nn.Conv2d, bn: FrozenBatchNorm, pad_before: int):
        super().__init__(conv, bn)
        self.pad_before = pad_before
        self.gemm: bool | None = None
        self._gemm_weights: dict = {}  # (device, dtype) -> the weight as one matrix, made on first use

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_gemm_weights"] = {}
        return state

    def pooled(self, rows: torch.Tensor) -> torch.Tensor:
        """(b, 1, t + length - 1, 96) input rows -> (b, filters, t): the folded conv (no bias),
        max over the bands."""
        if self.gemm or (self.gemm is None and rows.device.type == "cuda"):
            _, _, length, height = self.weight.shape
            return gemm_max_over_bands(rows, self._gemm_weight(rows), length, height)
        bands = rows.shape[3] - self.weight.shape[3] + 1
        return self.conv_max_pool(rows, (0, 0), (1, 1), (1, bands), (1, bands))[..., 0]

    def _gemm_weight(self, rows: torch.Tensor) -> torch.Tensor:
        dtype = _autocast_dtype(rows.device.type) if _autocast_on(rows.device.type) else torch.float32
        key = (rows.device, dtype)
        if key not in self._gemm_weights:
            self._gemm_weights[key] = gemm_weight(self.weight, rows.shape[3]).to(rows.device, dtype)
        return self._gemm_weights[key]


GEMM_OUTPUT_ELEMENTS = 2**27
"""The most output values one product of :func:`gemm_max_over_bands` makes (256 MiB in bfloat16)."""


def gemm_weight(weight: torch.Tensor, bands: int) -> torch.Tensor:
    """A front-end filter bank's weight (O, 1, length, height) as one matrix for
    :func:`gemm_max_over_bands`. A timbral bank (height > 1) becomes the banded (Toeplitz)
    matrix (length * bands, O * positions) whose column (o, f') holds filter o placed at band f'
    (positions = bands - height + 1): one product then gives every band position of every frame.
    A temporal bank (height 1) is its (length, O) matrix, applied to every band alike."""
    filters, _, length, height = weight.shape
    if height == 1:
        return weight[:, 0, :, 0].t().contiguous()  # (length, O)
    positions = bands - height + 1
    banded = weight.new_zeros(length, bands, filters, positions)
    for position in range(positions):  # filter o at band offset `position`
        banded[:, position : position + height, :, position] = weight[:, 0].permute(1, 2, 0)
    return banded.reshape(length * bands, filters * positions)


def gemm_max_over_bands(rows: torch.Tensor, matrix: torch.Tensor, length: int, height: int) -> torch.Tensor:
    """(b, 1, t + length - 1, bands) rows -> (b, O, t): a front-end bank of filters of
    ``length`` frames by ``height`` bands (``matrix`` from :func:`gemm_weight`) as matrix
    products, then the max over the band positions: the convolution + max's values (to float32
    rounding; in bfloat16 under autocast), in slices of at most :data:`GEMM_OUTPUT_ELEMENTS`
    output values."""
    b, _, count, bands = rows.shape
    frames = count - length + 1
    windows = rows[:, 0].unfold(1, length, 1)  # (b, t, bands, length): a view
    if height == 1:  # temporal: every band alike, (b bands t, length) @ (length, O)
        flat = windows.permute(0, 2, 1, 3).reshape(b * bands * frames, length)
        positions = bands
    else:  # timbral: (b t, length bands) @ banded (length bands, O positions)
        flat = windows.transpose(2, 3).reshape(b * frames, length * bands)
        positions = bands - height + 1
    filters = matrix.shape[1] if height == 1 else matrix.shape[1] // positions
    per_row = filters * (1 if height == 1 else positions)
    step = max(1, GEMM_OUTPUT_ELEMENTS // per_row)
    if height == 1:
        step = max(bands * frames, step - step % (bands * frames))  # whole patches: the max runs over their bands
    pooled = []
    for first in range(0, flat.shape[0], step):
        product = torch.matmul(flat[first : first + step].to(matrix.dtype), matrix)
        if height == 1:  # (patches bands t, O) -> max over bands
            pooled.append(product.view(-1, bands, frames, filters).amax(dim=1))  # (patches, t, O)
        else:  # (rows, O positions) -> max over positions
            pooled.append(product.view(-1, filters, positions).amax(dim=2))  # (rows, O)
    out = torch.cat(pooled).reshape(b, frames, filters)
    return out.transpose(1, 2).float()


def _slicing(patches: int, frames: int, frame_bytes: int, device: torch.device) -> tuple[int, int]:
    """(patches, frames) per front-end call: about :data:`FRONTEND_OUTPUT_BYTES` of output on
    the CPU, in equal slices of frames (a short last slice runs slowly); everything on a GPU."""
    if device.type != "cpu":
        return patches, frames
    patch_step = max(1, FRONTEND_OUTPUT_BYTES // (frame_bytes * frames))
    slices = 1 if patch_step > 1 else -(-frames * frame_bytes // FRONTEND_OUTPUT_BYTES)
    return patch_step, -(-frames // slices)


def _float32_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T + bias`` in float32 whatever autocast says (the back end's folded biases)."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        return torch.addmm(bias, x.float(), weight.t())


# --------------------------------------------------------------------------------------
# musicnn
# --------------------------------------------------------------------------------------


class FoldedMusicnn(nn.Module):
    """:class:`~stemlime_musicnn.networks.Musicnn` with folded batch norms; ``forward`` only.

    (B, T, 96) log-mel patches -> (B, n_labels) tag probabilities, equal to the source
    network's within float32 rounding (about 1e-6). The stages (:meth:`prepare`,
    :meth:`frontend` per tile of patches x frames, :meth:`head`) let several threads share one
    batch.
    """

    def __init__(self, network: Musicnn):
        super().__init__()
        self.n_labels = network.n_labels
        scale, shift = batch_norm_affine(network.input_bn)  # one channel: a scalar affine
        self.input_scale, self.input_shift = float(scale), float(shift)
        self.filters = nn.ModuleList(  # front end: timbral, then temporal filter banks
            [_FrontEndFilters(block.conv, block.bn, block.time_pad) for block in network.timbral]
            + [_FrontEndFilters(block.conv, block.bn, block.pad_before) for block in network.temporal]
        )
        self.max_pad = max(max(b.time_pad for b in network.timbral), max(b.pad_after for b in network.temporal))
        mid = network.midend
        self.midend_pad = mid.pad
        self.midend = nn.ModuleList(_FoldedConv(c, bn) for c, bn in ((mid.conv1, mid.bn1), (mid.conv2, mid.bn2), (mid.conv3, mid.bn3)))
        self.frontend_channels = mid.conv1.in_channels
        # back end: bn_pool folds into dense, bn_dense into output
        back = network.backend
        pool_scale, pool_shift = batch_norm_affine(back.bn_pool)
        dense_w = back.dense.weight.detach().double()  # (units, 2C), inputs interleaved max/mean
        scaled = dense_w * pool_scale
        self.register_buffer("dense_weight", torch.cat([scaled[:, 0::2], scaled[:, 1::2]], dim=1).float())  # [max, mean]
        self.register_buffer("dense_bias", (back.dense.bias.detach().double() + dense_w @ pool_shift).float())
        out_scale, out_shift = batch_norm_affine(back.bn_dense)
        out_w = back.output.weight.detach().double()  # (n_labels, units)
        self.register_buffer("output_weight", (out_w * out_scale).float())
        self.register_buffer("output_bias", (back.output.bias.detach().double() + out_w @ out_shift).float())
        self.eval()

    @property
    def channels(self) -> int:
        """Channels of the dense connection [front end, cnn1, cnn2, cnn3] (753)."""
        return self.frontend_channels + 3 * self.midend[0].weight.shape[0]

    def prepare(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input batch norm and zero padding of (B, T, 96) patches, and the (uninitialised)
        dense-connection buffer: ``x`` (B, 1, T + 2 * max_pad, 96), ``dense`` (B, 753, T)."""
        if patches.dim() != 3 or patches.shape[2] != N_MELS:
            raise ValueError(f"expected patches of shape (B, T, {N_MELS}), got {tuple(patches.shape)}")
        batch, frames, _ = patches.shape
        x = patches.unsqueeze(1).float() * self.input_scale + self.input_shift  # (B, 1, T, 96)
        x = F.pad(x, (0, 0, self.max_pad, self.max_pad))  # (B, 1, T + 2 * max_pad, 96)
        return x, x.new_empty(batch, self.channels, frames)

    def frontend(self, x: torch.Tensor, dense: torch.Tensor, patches: slice = slice(None), frames: slice = slice(None)) -> None:
        """Fill ``dense[patches, :561, frames]`` with the front end (timbral and temporal
        filter banks, each max over the bands) of the prepared input ``x``. Tiles of
        (patches, frames) are independent, so they may run on different threads."""
        first, last, _ = frames.indices(dense.shape[2])
        x, out = x[patches], dense[patches]
        channel = 0
        for bank in self.filters:
            filters, _, length, height = bank.weight.shape
            frame_bytes = 4 * filters * (N_MELS - height + 1)  # wide output of one frame of one patch
            patch_step, frame_step = _slicing(out.shape[0], last - first, frame_bytes, x.device)
            target = out[:, channel : channel + filters]  # (b, filters, T)
            first_row = self.max_pad - bank.pad_before
            for b0 in range(0, out.shape[0], patch_step):
                b1 = b0 + patch_step
                for t0 in range(first, last, frame_step):
                    t1 = min(last, t0 + frame_step)
                    rows = x[b0:b1, :, first_row + t0 : first_row + t1 + length - 1]  # (b, 1, t + length - 1, 96)
                    target[b0:b1, :, t0:t1] = bank.pooled(rows)  # (b, filters, t), float32
            tile = target[:, :, first:last]
            tile.copy_(bank.post(tile))
            channel += filters

    def head(self, dense: torch.Tensor) -> torch.Tensor:
        """Mid end and back end: ``dense`` (B, 753, T) with the front end filled in ->
        (B, n_labels) tag probabilities (fills in cnn1..cnn3 on the way). Always float32: 4%
        of the work, and in bfloat16 its residual sums doubled the error of the outputs."""
        with torch.autocast(device_type=dense.device.type, enabled=False):
            return self._head(dense)

    def _head(self, dense: torch.Tensor) -> torch.Tensor:
        filters = self.midend[0].weight.shape[0]
        layer_input = dense[:, : self.frontend_channels]
        channel = self.frontend_channels
        for k, layer in enumerate(self.midend):
            u = F.conv1d(F.pad(layer_input, (self.midend_pad, self.midend_pad)), layer.weight)  # (B, 64, T)
            cnn = layer.post(u)
            if k > 0:
                cnn += layer_input  # residual
            dense[:, channel : channel + filters] = cnn
            layer_input = dense[:, channel : channel + filters]
            channel += filters
        pooled = torch.cat([dense.amax(dim=2), dense.mean(dim=2)], dim=1)  # (B, 2 * 753): [max, mean]
        hidden = torch.relu(_float32_linear(pooled, self.dense_weight, self.dense_bias))  # (B, units)
        return torch.sigmoid(_float32_linear(hidden, self.output_weight, self.output_bias))  # (B, n_labels)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, T, 96) log-mel patches -> (B, n_labels) tag probabilities, on the CPU in groups
        of :data:`PATCHES_PER_GROUP` patches."""
        group = PATCHES_PER_GROUP if patches.device.type == "cpu" else max(1, patches.shape[0])
        return torch.cat([self._probabilities(patches[b : b + group]) for b in range(0, patches.shape[0], group)])

    def _probabilities(self, patches: torch.Tensor) -> torch.Tensor:
        x, dense = self.prepare(patches)
        self.frontend(x, dense)
        return self.head(dense)


# --------------------------------------------------------------------------------------
# VGG
# --------------------------------------------------------------------------------------


class FoldedVgg(nn.Module):
    """:class:`~stemlime_musicnn.networks.Vgg` with folded batch norms; ``forward`` only.

    Each block is conv(s * w) -> max-pool -> :class:`SignedRelu`. The first pool takes every
    second mel band (pool width 1, stride 2), so the first convolution is only evaluated there
    (frequency stride 2): exact, and half the work of that layer.
    """

    def __init__(self, network: Vgg):
        super().__init__()
        self.n_labels = network.n_labels
        self.input_shape = network.input_shape
        scale, shift = batch_norm_affine(network.input_bn)
        self.input_scale, self.input_shift = float(scale), float(shift)
        self.blocks = nn.ModuleList(_FoldedConv(conv, bn) for conv, bn in zip(network.convs, network.bns))
        self.pools = [(tuple(p.kernel_size), tuple(p.stride)) for p in network.pools]
        self.register_buffer("output_weight", network.output.weight.detach().clone())
        self.register_buffer("output_bias", network.output.bias.detach().clone())
        self.eval()

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, 187, 96) log-mel patches -> (B, n_labels) tag probabilities (on the CPU one patch at a time)."""
        if patches.dim() != 3 or tuple(patches.shape[1:]) != self.input_shape:
            raise ValueError(
                f"expected patches of shape (B, {self.input_shape[0]}, {self.input_shape[1]}) "
                f"(the VGG models only take 3-s patches), got {tuple(patches.shape)}"
            )
        if patches.device.type != "cpu":
            return self._probabilities(patches)
        return torch.cat([self._probabilities(patches[b : b + 1]) for b in range(patches.shape[0])])

    def _probabilities(self, patches: torch.Tensor) -> torch.Tensor:
        x = patches.unsqueeze(1).float() * self.input_scale + self.input_shift  # (B, 1, 187, 96)
        for i, (block, (size, stride)) in enumerate(zip(self.blocks, self.pools)):
            if i == 0 and size[1] == 1:  # the pool only reads every stride[1]-th band
                u = block.conv_max_pool(x, (1, 1), (1, stride[1]), (size[0], 1), (stride[0], 1))  # (B, 128, 92, 48)
            else:
                u = block.conv_max_pool(x, (1, 1), (1, 1), size, stride)
            x = block.post(u)  # (B, 128, t, f)
        flat = x.permute(0, 2, 3, 1).flatten(1)  # TF NHWC flatten order, (B, 256)
        return torch.sigmoid(_float32_linear(flat, self.output_weight, self.output_bias))


def fold(network: Musicnn | Vgg) -> FoldedMusicnn | FoldedVgg:
    """The folded, inference-only copy of a musicnn or VGG network (on the same device)."""
    if isinstance(network, Musicnn):
        folded = FoldedMusicnn(network)
    elif isinstance(network, Vgg):
        folded = FoldedVgg(network)
    else:
        raise TypeError(f"fold takes a Musicnn or Vgg network, got {type(network).__name__}")
    return folded.to(next(network.parameters()).device)
