"""Surrogates: the interpretable local models fitted on (masks, tagger outputs, kernel weights).

``ridge`` (LIME's, with its feature selection), ``lasso``, ``linear``, ``kernel_shap`` (Shapley
values) and ``tree`` (rules). Each returns a :class:`SurrogateFit`.
"""

from .fit import SurrogateFit, weighted_r2
from .lime import FEATURE_SELECTIONS, cosine_distances_to_all_ones, kernel, sample_masks, select_features
from .linear import LassoSurrogate, LinearSurrogate, RidgeSurrogate
from .shapley import KernelShapSurrogate, shapley_kernel, shapley_masks, shapley_values
from .tree import TreeSurrogate, describe_rules

__all__ = [
    "FEATURE_SELECTIONS",
    "KernelShapSurrogate",
    "LassoSurrogate",
    "LinearSurrogate",
    "RidgeSurrogate",
    "SurrogateFit",
    "TreeSurrogate",
    "cosine_distances_to_all_ones",
    "describe_rules",
    "kernel",
    "sample_masks",
    "select_features",
    "shapley_kernel",
    "shapley_masks",
    "shapley_values",
    "weighted_r2",
]
