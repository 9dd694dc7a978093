"""The pretrained spleeter models: their stems, configuration and checkpoint layout (no torch).

This module is imported when plugins are listed and when model files are verified, so it
needs numpy and the core alone. The checkpoint layout is that of Keras layers numbered in
creation order, stems built one after another (see :mod:`stemlime_spleeter.unet`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MODEL_CONFIGS", "ENCODER_FILTERS", "expected_variables", "stems_in_checkpoint", "check_checkpoint"]

MODEL_CONFIGS: dict[str, dict] = {
    # From spleeter/resources/<name>.json ("model" section and instrument_list).
    "2stems": dict(
        stems=("vocals", "accompaniment"),
        conv_activation="LeakyReLU",
        deconv_activation="ReLU",
        mask="sigmoid",
        n_bins=1024,
    ),
    "4stems": dict(
        stems=("vocals", "drums", "bass", "other"),
        conv_activation="ELU",
        deconv_activation="ELU",
        mask="sigmoid",
        n_bins=1024,
    ),
    "5stems": dict(
        stems=("vocals", "piano", "drums", "bass", "other"),
        conv_activation="ELU",
        deconv_activation="ELU",
        mask="softmax",
        n_bins=1024,
    ),
}
"""Per pretrained model: stems in checkpoint order, activations, mask type, bins fed to the net.

``conv_activation``: "LeakyReLU" (slope 0.2, spleeter's default), "ELU" or "ReLU";
``deconv_activation``: "ReLU" (default), "ELU" or "LeakyReLU"."""

ENCODER_FILTERS = (16, 32, 64, 128, 256, 512)
"""spleeter's default ``conv_n_filters``."""

_LAYER_TYPES = ("conv2d_transpose", "batch_normalization", "conv2d")  # longest prefix first
_LAYERS_PER_STEM = {"conv2d": 7, "conv2d_transpose": 6, "batch_normalization": 12}


def _name(base: str, index: int) -> str:
    return base if index == 0 else f"{base}_{index}"


def expected_variables(n_stems: int) -> dict[str, tuple[int, ...]]:
    """Every U-Net variable of an ``n_stems`` checkpoint with its shape (TF layouts: conv
    kernels HWIO, transposed-conv kernels HWOI)."""
    f = ENCODER_FILTERS
    up_out = (f[4], f[3], f[2], f[1], f[0], 1)
    up_in = (f[5],) + tuple(2 * c for c in up_out[:5])  # after the first, [skip, up] concatenated
    out: dict[str, tuple[int, ...]] = {}
    for i in range(n_stems):
        for k in range(6):
            conv = _name("conv2d", 7 * i + k)
            out[f"{conv}/kernel"] = (5, 5, 2 if k == 0 else f[k - 1], f[k])
            out[f"{conv}/bias"] = (f[k],)
            deconv = _name("conv2d_transpose", 6 * i + k)
            out[f"{deconv}/kernel"] = (5, 5, up_out[k], up_in[k])
            out[f"{deconv}/bias"] = (up_out[k],)
        final = _name("conv2d", 7 * i + 6)
        out[f"{final}/kernel"] = (4, 4, 1, 2)
        out[f"{final}/bias"] = (2,)
        for k, n in enumerate(f + up_out):
            bn = _name("batch_normalization", 12 * i + k)
            for part in ("gamma", "beta", "moving_mean", "moving_variance"):
                out[f"{bn}/{part}"] = (n,)
    return out


def _layer(name: str) -> tuple[str, int] | None:
    layer = name.split("/")[0]
    for base in _LAYER_TYPES:
        if layer == base:
            return base, 0
        if layer.startswith(base + "_") and layer[len(base) + 1:].isdigit():
            return base, int(layer[len(base) + 1:])
    return None


def stems_in_checkpoint(names) -> int:
    """How many stems' U-Nets a checkpoint holds, judged by its highest-numbered conv layer."""
    convs = [index for name in names if (parsed := _layer(name)) and parsed[0] == "conv2d" for index in [parsed[1]]]
    return (max(convs) + 1) // _LAYERS_PER_STEM["conv2d"] if convs else 0


def _model_name(n_stems: int) -> str:
    named = {len(c["stems"]): name for name, c in MODEL_CONFIGS.items()}
    return f"a {named[n_stems]} checkpoint" if n_stems in named else f"a checkpoint with {n_stems} stems' networks"


def check_checkpoint(folder: str | Path, variant: str) -> None:
    """Raise ModelFilesError unless ``folder/model.{index,data-00000-of-00001}`` holds the
    variables of ``variant`` with the right shapes and a data file long enough for them."""
    from stemlime import ModelFilesError
    from stemlime.tfcheckpoint import CheckpointError, list_checkpoint

    folder = Path(folder)
    try:
        tensors = list_checkpoint(folder / "model")
    except (CheckpointError, OSError) as error:
        raise ModelFilesError(f"{folder / 'model.index'} is not a readable TensorFlow checkpoint index ({error})") from None
    n_needed = len(MODEL_CONFIGS[variant]["stems"])
    n_found = stems_in_checkpoint(tensors)
    if n_found != n_needed:
        raise ModelFilesError(
            f"{folder} holds {_model_name(n_found)}, not {variant}: spleeter:{variant} needs the "
            f"{variant} files (model.index, model.data-00000-of-00001)"
        )
    expected = expected_variables(n_needed)
    missing = [name for name in expected if name not in tensors]
    wrong = [f"{name} {tensors[name].shape} (expected {shape})" for name, shape in expected.items()
             if name in tensors and tuple(tensors[name].shape) != shape]
    if missing or wrong:
        problems = ([f"{len(missing)} missing variable(s), e.g. {missing[0]}"] if missing else []) + wrong[:3]
        raise ModelFilesError(f"{folder} is not a spleeter {variant} checkpoint: " + "; ".join(problems))
    data = folder / "model.data-00000-of-00001"
    needed = max((t.offset + t.size for t in tensors.values() if t.shard == 0), default=0)
    size = data.stat().st_size if data.is_file() else 0
    if size < needed:
        raise ModelFilesError(f"{data} is truncated ({size} bytes, the index needs {needed}); fetch the files again")
