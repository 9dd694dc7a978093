"""Where the musicnn checkpoints come from and how they are checked.

The four published models ship inside the ``musicnn==0.1.0`` wheel on the package index
(TensorFlow 1 checkpoints whose files are named ``.index`` and ``.data-00000-of-00001``).
``STEMLIME_MUSICNN_DIR`` may point at the ``musicnn/`` folder of a musicnn source checkout
instead (it also holds ``MSD_musicnn_big``).
"""

from __future__ import annotations

from pathlib import Path

from stemlime.plugin import ModelFilesError
from stemlime.plugin import ModelFiles, TFCheckpoint, WheelSource
from stemlime.plugin import CheckpointError, list_checkpoint

from .variants import VARIANTS, musicnn_variable_names, vgg_variable_names

ENV_VAR = "STEMLIME_MUSICNN_DIR"
WHEEL = "musicnn==0.1.0"
FILES = {".index": ".index", ".data-00000-of-00001": ".data-00000-of-00001"}
SHA256 = {
    "MSD_musicnn": (
        "87f3e0f3550c8d3bafc840374003e5c8af5eeb5ecf6add61af09a7822d3282c8",
        "8579734ee6388f799ed0def4bbd0d1fdcbeaf213ef2a9dc860917bd76a303de6",
    ),
    "MTT_musicnn": (
        "da2d7bb670b2b31e9bc441bb1bd75eca31b5b061f963cc1f9630c1aff3238f57",
        "041f3935e981a65cea739842d30c188d3a7d2adf4410955c8668eb3de4a5acab",
    ),
    "MSD_vgg": (
        "50e499238457558bba9f34f8b84d4afb8279afd43520cdf0a4fdf805a49c9ca3",
        "9683d756b8311146534f333502ebf4a2a78a3e320c54ab0411dff6186d8375fc",
    ),
    "MTT_vgg": (
        "4b0d3d2d02bbe0919c063c1fb74bfa9018ac3517e362d681b07444d4207a5f5f",
        "458f5c8bcecc086a3bba3dce83809df6da6e0a3560a59ddd84711bf3d5fd8303",
    ),
}


def checkpoint_prefix(folder: Path) -> str:
    """musicnn's checkpoint files have an empty base name: the prefix is the folder plus '/'."""
    return str(folder) + "/"


def variable_names(variant: str) -> list[str]:
    return musicnn_variable_names() if VARIANTS[variant].architecture == "musicnn" else vgg_variable_names()


def verifier(variant: str):
    def verify(folder: Path) -> None:
        missing_files = [name for name in FILES if not (folder / name).is_file()]
        if missing_files:
            raise ModelFilesError(
                f"musicnn {variant}: {folder} lacks {', '.join(missing_files)}; fetch the checkpoint with "
                f"`stemlime models fetch musicnn/{variant}`"
            )
        try:
            found = list_checkpoint(checkpoint_prefix(folder))
        except CheckpointError as error:
            raise ModelFilesError(f"musicnn {variant}: {folder} does not hold a readable checkpoint ({error})") from None
        missing = [name for name in variable_names(variant) if name not in found]
        if missing:
            other = [v for v in VARIANTS if v != variant and not [n for n in variable_names(v) if n not in found]]
            hint = f"; it looks like a {other[0].split('_', 1)[1]} checkpoint" if other else ""
            raise ModelFilesError(
                f"musicnn {variant}: the checkpoint in {folder} lacks {len(missing)} variable(s), e.g. {missing[0]}{hint}"
            )

    return verify


def model_files() -> list[ModelFiles]:
    files = []
    for variant, info in VARIANTS.items():
        shipped = variant in SHA256
        files.append(
            ModelFiles(
                name=f"musicnn/{variant}",
                description=f"musicnn {variant} ({info.architecture}, {len(info.labels)} tags) TensorFlow checkpoint"
                + ("" if shipped else "; only in musicnn's source repository: set STEMLIME_MUSICNN_DIR"),
                files=FILES,
                sources=(WheelSource(WHEEL, f"musicnn/{variant}"),) if shipped else (),
                sha256=dict(zip(FILES, SHA256[variant])) if shipped else {},
                env_var=ENV_VAR,
                env_subdir=variant,
                verify=verifier(variant),
                read_tensors=TFCheckpoint("", names=variable_names(variant)),  # the weights, not the Adam slots
            )
        )
    return files
