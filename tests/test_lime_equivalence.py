"""stemlime's surrogate fit equals the `lime` package's LimeBase on the same neighbourhood."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from lime.lime_base import LimeBase

from stemlime.surrogates.lime import cosine_distances_to_all_ones, kernel, sample_masks
from stemlime.surrogates import RidgeSurrogate


def lime_kernel(d, kernel_width):
    return np.sqrt(np.exp(-(d**2) / kernel_width**2))


def neighbourhood(n_components: int, samples, seed: int):
    masks = sample_masks(n_components, samples, seed)
    rng = np.random.default_rng(seed + 1)
    true_weights = rng.normal(size=n_components)
    outputs = 1 / (1 + np.exp(-(masks @ true_weights - 0.5 + 0.3 * rng.normal(size=len(masks)))))
    labels = np.stack([outputs, 1 - outputs**2], axis=1)
    return masks, labels, cosine_distances_to_all_ones(masks)


@pytest.mark.parametrize("method", ["auto", "none", "forward_selection", "highest_weights", "lasso_path"])
@pytest.mark.parametrize("num_features", [2, 4, 100000])
@pytest.mark.parametrize("n_components,samples", [(5, "exhaustive"), (8, 300), (12, 1000)])
def test_every_feature_selection_matches_lime(method, num_features, n_components, samples):
    masks, labels, distances = neighbourhood(n_components, samples, seed=n_components)
    base = LimeBase(partial(lime_kernel, kernel_width=0.25), random_state=0)
    for label in range(labels.shape[1]):
        intercept, exp, score, local = base.explain_instance_with_data(
            masks, labels, distances, label, num_features, feature_selection=method
        )
        fit = RidgeSurrogate(feature_selection=method, num_features=num_features).fit(masks, labels[:, label], kernel(distances, 0.25))
        assert sorted(int(i) for i in fit.selected) == sorted(int(i) for i, _ in exp)
        for index, weight in exp:
            assert abs(fit.weights[index] - weight) < 1e-10
        unselected = set(range(n_components)) - {int(i) for i, _ in exp}
        assert all(fit.weights[i] == 0 for i in unselected)
        assert abs(fit.intercept - intercept) < 1e-10
        assert abs(fit.score - score) < 1e-10
        assert abs(fit.local_prediction - local[0]) < 1e-10


def test_masks_are_audiolimes_for_the_same_seed():
    """audioLIME draws one throw-away integer, then randint(0, 2, N*K), and sets row 0 to ones."""
    state = np.random.RandomState(7)
    state.randint(0, high=1000)
    expected = state.randint(0, 2, 50 * 6).reshape(50, 6)
    expected[0] = 1
    np.testing.assert_array_equal(sample_masks(6, 50, 7), expected)


def test_exhaustive_masks_start_all_ones_and_end_all_zeros():
    masks = sample_masks(4, "exhaustive", None)
    assert masks.shape == (16, 4)
    assert len({tuple(m) for m in masks}) == 16
    assert masks[0].tolist() == [1, 1, 1, 1] and masks[-1].tolist() == [0, 0, 0, 0]


def test_kernel_is_audiolimes():
    distances = np.array([0.0, 0.25, 1.0])
    np.testing.assert_allclose(kernel(distances), np.sqrt(np.exp(-(distances**2) / 0.0625)))
    masks = np.array([[1, 1], [1, 0], [0, 0]])
    np.testing.assert_allclose(cosine_distances_to_all_ones(masks), [0.0, 1 - 1 / np.sqrt(2), 1.0], atol=1e-12)
