"""The pretrained spleeter models: their stems, configuration and checkpoint layout (no torch).

This module is imported when plugins are listed and when model files are verified, so it
needs the core alone. The checkpoint layout is that of Keras layers numbered in creation order,
stems built one after another (see :mod:`stemlime_spleeter.unet`); naming the layers and
checking a checkpoint's variables against them happens here, once, for both verifying the
files and building the networks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "MODEL_CONFIGS",
    "ENCODER_FILTERS",
    "layer_name",
    "parse_layer",
    "stem_variable_names",
    "expected_variables",
    "stems_in_checkpoint",
    "checkpoint_problem",
    "check_checkpoint",
]

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


def layer_name(base: str, index: int) -> str:
    """Keras naming: the first layer of a type is ``base``, then ``base_1``, ``base_2``, ..."""
    return base if index == 0 else f"{base}_{index}"


def parse_layer(name: str) -> tuple[str, int] | None:
    """('conv2d', 7) for 'conv2d_7/kernel'; None for variables outside the U-Nets (global_step)."""
    layer = name.split("/")[0]
    for base in _LAYER_TYPES:
        if layer == base:
            return base, 0
        if layer.startswith(base + "_") and layer[len(base) + 1 :].isdigit():
            return base, int(layer[len(base) + 1 :])
    return None


def stem_variable_names(stem_index: int) -> dict[str, list[str]]:
    """Layer names of the ``stem_index``-th stem's U-Net: six encoder convs then the final conv
    (``conv``), six transposed convs (``deconv``), six encoder then six decoder BatchNorms (``bn``)."""
    return {
        kind: [layer_name(base, _LAYERS_PER_STEM[base] * stem_index + k) for k in range(_LAYERS_PER_STEM[base])]
        for kind, base in (("conv", "conv2d"), ("deconv", "conv2d_transpose"), ("bn", "batch_normalization"))
    }


def expected_variables(n_stems: int) -> dict[str, tuple[int, ...]]:
    """Every U-Net variable of an ``n_stems`` checkpoint with its shape (TF layouts: conv
    kernels HWIO, transposed-conv kernels HWOI)."""
    f = ENCODER_FILTERS
    up_out = (f[4], f[3], f[2], f[1], f[0], 1)
    up_in = (f[5],) + tuple(2 * c for c in up_out[:5])  # after the first, [skip, up] concatenated
    out: dict[str, tuple[int, ...]] = {}
    for i in range(n_stems):
        names = stem_variable_names(i)
        for k, conv in enumerate(names["conv"][:6]):
            out[f"{conv}/kernel"] = (5, 5, 2 if k == 0 else f[k - 1], f[k])
            out[f"{conv}/bias"] = (f[k],)
        for k, deconv in enumerate(names["deconv"]):
            out[f"{deconv}/kernel"] = (5, 5, up_out[k], up_in[k])
            out[f"{deconv}/bias"] = (up_out[k],)
        final = names["conv"][6]
        out[f"{final}/kernel"] = (4, 4, 1, 2)
        out[f"{final}/bias"] = (2,)
        for bn, n in zip(names["bn"], f + up_out):
            for part in ("gamma", "beta", "moving_mean", "moving_variance"):
                out[f"{bn}/{part}"] = (n,)
    return out


def stems_in_checkpoint(names: Iterable[str]) -> int:
    """How many stems' U-Nets a checkpoint holds, judged by its highest-numbered conv layer."""
    convs = [parsed[1] for name in names if (parsed := parse_layer(name)) and parsed[0] == "conv2d"]
    return (max(convs) + 1) // _LAYERS_PER_STEM["conv2d"] if convs else 0


_VARIANT_OF_STEM_COUNT = {len(config["stems"]): name for name, config in MODEL_CONFIGS.items()}


def _model_name(n_stems: int) -> str:
    """'4stems' for 4; '3 stems' for a count no pretrained model has."""
    return _VARIANT_OF_STEM_COUNT.get(n_stems, f"{n_stems} stems")


def _holds(n_stems: int) -> str:
    if n_stems in _VARIANT_OF_STEM_COUNT:
        return f"a {_VARIANT_OF_STEM_COUNT[n_stems]} checkpoint"
    return f"a checkpoint with {n_stems} stems' networks"


def _stem_of(name: str, stems: Sequence[str]) -> str:
    base, index = parse_layer(name)
    stem = index // _LAYERS_PER_STEM[base]
    return repr(stems[stem]) if stem < len(stems) else f"number {stem}"


def checkpoint_problem(shapes: Mapping[str, Sequence[int]], stems: Sequence[str]) -> str | None:
    """What keeps a checkpoint from being the U-Nets of ``stems`` (in the model's order), as the
    end of a sentence about it ("holds a 2stems checkpoint, not 4stems: ..."); None when it fits.

    ``shapes``: {TF variable name: shape}, from the checkpoint's index or from loaded tensors.
    Every variable the networks need must be there with its shape, and none of a further stem.
    """
    n_needed = len(stems)
    n_found = stems_in_checkpoint(shapes)
    expected = expected_variables(n_needed)
    missing = [name for name in expected if name not in shapes]
    if n_found > n_needed:
        limits = {base: count * n_needed for base, count in _LAYERS_PER_STEM.items()}
        first: dict[str, str] = {}  # lowest-numbered unexpected variable of each layer type
        for name in sorted(shapes, key=lambda n: (parse_layer(n) or ("", -1))[1]):
            parsed = parse_layer(name)
            if parsed is not None and parsed[1] >= limits[parsed[0]]:
                first.setdefault(parsed[0], name)
        examples = ", ".join(repr(first[b]) for b in ("conv2d", "conv2d_transpose", "batch_normalization") if b in first)
        return f"holds {_holds(n_found)}, not {_model_name(n_needed)}: it has variables beyond the {n_needed} stems {list(stems)}, e.g. {examples}"
    if missing:
        head = f"holds {_holds(n_found)}, not {_model_name(n_needed)}" if n_found != n_needed else "is not a complete checkpoint"
        return f"{head}: it lacks {len(missing)} variable(s), e.g. {missing[0]!r} (stem {_stem_of(missing[0], stems)})"
    wrong = [
        f"{name!r} (stem {_stem_of(name, stems)}) has shape {tuple(shapes[name])}, expected {shape}"
        for name, shape in expected.items()
        if tuple(shapes[name]) != shape
    ]
    if wrong:
        return "does not fit spleeter's U-Net: " + "; ".join(wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
    return None


def check_checkpoint(folder: str | Path, variant: str) -> None:
    """Raise ModelFilesError unless ``folder/model.{index,data-00000-of-00001}`` holds the
    variables of ``variant`` with the right shapes and a data file long enough for them."""
    from stemlime.plugin import ModelFilesError
    from stemlime.plugin import CheckpointError, list_checkpoint

    folder = Path(folder)
    try:
        tensors = list_checkpoint(folder / "model")
    except (CheckpointError, OSError) as error:
        raise ModelFilesError(f"{folder / 'model.index'} is not a readable TensorFlow checkpoint index ({error})") from None
    problem = checkpoint_problem({name: info.shape for name, info in tensors.items()}, MODEL_CONFIGS[variant]["stems"])
    if problem is not None:
        raise ModelFilesError(f"{folder} {problem}. spleeter:{variant} needs the {variant} files (model.index, model.data-00000-of-00001)")
    data = folder / "model.data-00000-of-00001"
    needed = max((t.offset + t.size for t in tensors.values() if t.shard == 0), default=0)
    size = data.stat().st_size if data.is_file() else 0
    if size < needed:
        raise ModelFilesError(
            f"{data} is truncated ({size} bytes, the index needs {needed}); fetch the files again "
            f"(stemlime models fetch spleeter/{variant} --force)"
        )
