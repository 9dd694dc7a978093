"""Registers the ``demucs`` separator with stemlime.

Importing this module is cheap (no torch, no demucs): ``stemlime plugins`` lists it without
loading anything.
"""

from __future__ import annotations

from stemlime.plugin import Factory, hookimpl, options_of

from .options import DemucsOptions

FOUR_STEMS = ("drums", "bass", "other", "vocals")
# the stems of each pretrained model, in demucs's order (its models' ``sources``)
VARIANTS: dict[str, tuple[str, ...]] = {
    "htdemucs": FOUR_STEMS,
    "htdemucs_ft": FOUR_STEMS,
    "htdemucs_6s": FOUR_STEMS + ("guitar", "piano"),
    "mdx_extra": FOUR_STEMS,
    "mdx": FOUR_STEMS,
    "hdemucs_mmi": FOUR_STEMS,
}
DEFAULT_VARIANT = "htdemucs"


def _build(variant: str | None, **options):
    from .separator import DemucsSeparator  # torch and demucs are imported only when a separator is built

    return DemucsSeparator(variant or DEFAULT_VARIANT, **options)


@hookimpl
def stemlime_separators(register):
    register(
        Factory(
            name="demucs",
            description="Meta's Demucs through the demucs package: htdemucs (drums, bass, other, vocals; default), "
            "htdemucs_ft, htdemucs_6s (+ guitar, piano), mdx_extra, mdx, hdemucs_mmi.",
            build=_build,
            variants=tuple(VARIANTS),
            default_variant=DEFAULT_VARIANT,
            options=options_of(DemucsOptions),
        )
    )
