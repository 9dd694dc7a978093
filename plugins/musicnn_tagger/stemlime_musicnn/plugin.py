"""Registers the ``musicnn`` tagger and its model files with stemlime."""

from __future__ import annotations

from stemlime.plugin import Factory, Option, hookimpl
from stemlime.plugin import DEVICE_OPTION

from .modelfiles import model_files
from .variants import DEFAULT_BATCH_SIZE, FRONTENDS, PRECISIONS, VARIANTS


def _build_tagger(variant: str, **options):
    from .tagger import MusicnnTagger  # torch is imported only when a tagger is built

    return MusicnnTagger(variant, **options)


@hookimpl
def stemlime_taggers(register):
    register(
        Factory(
            name="musicnn",
            description="Jordi Pons' musicnn/VGG music taggers (50 tags, 3-s patches, 16 kHz) in PyTorch.",
            build=_build_tagger,
            variants=tuple(VARIANTS),
            default_variant="MSD_musicnn",
            options=[
                DEVICE_OPTION,
                Option("batch_size", "patches per network call", "int", DEFAULT_BATCH_SIZE),
                Option("precision", "fp32, or bf16 (bfloat16 convolutions: 2.4x faster on a CPU with AMX, "
                       "probabilities within ~1e-2 of fp32; ~30x slower on a CPU without native bfloat16)",
                       "str", "fp32", PRECISIONS),
                Option("overlap", "overlap of consecutive 3-s patches, in seconds", "float", 0.0),
                Option("model_dir", "folder with the checkpoint (.index, .data-*) instead of the cache", "path"),
                Option("fold", "run the network with its batch norms folded into the convolutions (same outputs "
                       "within 1e-5, 2-3x faster on a CPU); false runs the layers as trained", "bool", True),
                Option("threads", "CPU worker threads, each running the network on one core (0: PyTorch's "
                       "thread count)", "int", 0),
                Option("frontend", "where predict computes the log-mel: numpy (exactly as musicnn), torch (on the "
                       "network's device, within 1e-3), auto (numpy on a CPU, torch on a GPU)", "str", "auto", FRONTENDS),
            ],
        )
    )


@hookimpl
def stemlime_models(register):
    for files in model_files():
        register(files)
