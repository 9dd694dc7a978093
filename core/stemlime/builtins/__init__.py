"""The core's own plugins. They register through the same hooks as any third-party plugin."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..declarations import Factory, options_of
from ..surrogates import KernelShapSurrogate, LassoSurrogate, LinearSurrogate, RidgeSurrogate, TreeSurrogate
from .separators import MixSeparator, OracleSeparator
from .segmenters import WholeSegmenter
from .python_tagger import PythonTaggerOptions, build_python_tagger


@hookimpl
def stemlime_separators(register):
    register(
        Factory(
            name="oracle",
            description="True stems from a folder, one audio file per stem: dir=FOLDER, or beside an input named "
            "mixture.*/mix.* (MUSDB18, stemlime render; Slakh's stems/).",
            build=lambda variant, **options: OracleSeparator(**options),
            options=options_of(OracleSeparator),
        )
    )
    register(
        Factory(
            name="none",
            description="No separation: one stem, the mix itself (for segment-only explanations).",
            build=lambda variant, **options: MixSeparator(),
        )
    )


@hookimpl
def stemlime_segmenters(register):
    register(
        Factory(
            name="whole",
            description="One segment covering the whole excerpt.",
            build=lambda variant, **options: WholeSegmenter(),
        )
    )


@hookimpl
def stemlime_surrogates(register):
    register(
        Factory(
            name="ridge",
            description="LIME's local model: feature selection, then weighted Ridge regression with intercept.",
            build=lambda variant, **options: RidgeSurrogate(**options),
            options=options_of(RidgeSurrogate),
        )
    )
    register(
        Factory(
            name="lasso",
            description="Weighted Lasso with intercept: sparse weights, small effects set to exactly 0.",
            build=lambda variant, **options: LassoSurrogate(**options),
            options=options_of(LassoSurrogate),
        )
    )
    register(
        Factory(
            name="linear",
            description="Plain weighted least squares with intercept: no regularization, no feature selection.",
            build=lambda variant, **options: LinearSurrogate(),
        )
    )
    register(
        Factory(
            name="kernel_shap",
            description="Shapley values (kernel SHAP): exact with all 2^K coalitions when samples >= 2^K, else sampled; "
            "they add up to f(all) - f(none).",
            build=lambda variant, **options: KernelShapSurrogate(),
        )
    )
    register(
        Factory(
            name="tree",
            description="A shallow regression tree: rules such as 'vocals on and drums off -> 0.73', weights = average effects.",
            build=lambda variant, **options: TreeSurrogate(**options),
            options=options_of(TreeSurrogate),
        )
    )


@hookimpl
def stemlime_taggers(register):
    register(
        Factory(
            name="python",
            description="Your own model: an object with labels, sample_rate, input_seconds and predict(batch), or a function.",
            build=build_python_tagger,
            options=options_of(PythonTaggerOptions),
        )
    )
