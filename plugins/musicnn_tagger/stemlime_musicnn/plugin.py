"""Registers the ``musicnn`` tagger and its model files with stemlime."""

from __future__ import annotations

from stemlime.plugin import Factory, hookimpl, options_of

from .modelfiles import model_files
from .options import MusicnnOptions
from .variants import VARIANTS


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
            options=options_of(MusicnnOptions),
        )
    )


@hookimpl
def stemlime_models(register):
    for files in model_files():
        register(files)
