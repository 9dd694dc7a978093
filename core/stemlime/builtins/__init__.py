"""The core's own plugins. They register through the same hooks as any third-party plugin."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..registry import Factory, Option
from ..surrogates import FEATURE_SELECTIONS, KernelShapSurrogate, LassoSurrogate, LinearSurrogate, RidgeSurrogate, TreeSurrogate
from .separators import MixSeparator, OracleSeparator
from .segmenters import WholeSegmenter
from .python_tagger import build_python_tagger


@hookimpl
def stemlime_separators(register):
    register(
        Factory(
            name="oracle",
            description="True stems from a folder, one audio file per stem: dir=FOLDER, or beside an input named "
            "mixture.*/mix.* (MUSDB18, stemlime render; Slakh's stems/).",
            build=lambda variant, **options: OracleSeparator(**options),
            options=[
                # "str", not "path": a path option turns an empty dir= into the current folder
                Option("dir", "folder holding the stems (default: the folder of an input named mixture.* or mix.*)", "str"),
                Option("stems", "stem names to use, separated by ';' (default: every audio file found)", "str"),
                Option("rest", "add a stem 'rest' = mix - sum of the stems, so that they add up to the mix", "bool", False),
            ],
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
            options=[
                Option("alpha", "Ridge regularization strength", "float", 1.0),
                Option("feature_selection", "how components are chosen before the fit", "str", "auto", FEATURE_SELECTIONS),
                Option("num_features", "the most components the fit may use (default: all)", "int", 100000),
            ],
        )
    )
    register(
        Factory(
            name="lasso",
            description="Weighted Lasso with intercept: sparse weights, small effects set to exactly 0.",
            build=lambda variant, **options: LassoSurrogate(**options),
            options=[Option("alpha", "L1 penalty on the weights (in units of the tagger's probability)", "float", 0.001)],
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
            options=[
                Option("max_depth", "depth of the tree (at most 2^depth rules)", "int", 3),
                Option("min_weight_fraction_leaf", "smallest share of the kernel weight in a rule", "float", 0.0),
            ],
        )
    )


@hookimpl
def stemlime_taggers(register):
    register(
        Factory(
            name="python",
            description="Your own model: an object with labels, sample_rate, input_seconds and predict(batch), or a function.",
            build=build_python_tagger,
            options=[
                Option("object", "MODULE:ATTRIBUTE of the model object or function", "str"),
                Option("path", "folder added to the import path before importing MODULE", "path"),
                Option("labels", "label names separated by ';', or @FILE with one label per line", "str"),
                Option("sample_rate", "sample rate in Hz the model expects", "int"),
                Option("input_seconds", "fixed input length in seconds (default: any length)", "float"),
            ],
        )
    )
