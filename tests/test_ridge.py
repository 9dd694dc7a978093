"""stemlime's ridge fits and mask distances are scikit-learn's to the last bit, without importing it.

scikit-learn takes about a second to import; an explanation with the default ridge surrogate
needs only a weighted ridge solve and cosine distances, written out in ``stemlime.surrogates.ridge``
in scikit-learn's own operations. These tests hold that rewrite to bit-for-bit equality with
the installed scikit-learn over many neighbourhoods (so that explanation.json is unchanged).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import Ridge as SklearnRidge
from sklearn.metrics import pairwise_distances

from stemlime.surrogates.lime import kernel, sample_masks
from stemlime.surrogates.ridge import Ridge, cosine_distances


def _neighbourhoods():
    rng = np.random.default_rng(0)
    for k in (1, 2, 5, 12, 50):
        for samples in (["exhaustive"] if k <= 5 else []) + [k + 1, 1000]:
            masks = sample_masks(k, samples, int(rng.integers(1000)))
            outputs = np.stack(
                [
                    rng.random(len(masks)),  # noise
                    1 / (1 + np.exp(-(masks @ rng.normal(size=k)))),  # a logistic "tagger"
                    np.full(len(masks), 0.5),  # constant: R^2 of a flat target
                ],
                axis=1,
            )  # (N, 3): columns are strided views, as a label's targets are
            yield k, samples, masks, outputs


CASES = list(_neighbourhoods())


@pytest.mark.parametrize("k,samples,masks,outputs", CASES, ids=[f"K{k}-{s}" for k, s, *_ in CASES])
def test_cosine_distances_equal_scikit_learns_bit_for_bit(k, samples, masks, outputs):
    assert np.array_equal(cosine_distances(masks, masks[:1]), pairwise_distances(masks, masks[:1], metric="cosine"))


@pytest.mark.parametrize("k,samples,masks,outputs", CASES, ids=[f"K{k}-{s}" for k, s, *_ in CASES])
def test_ridge_fit_predict_and_score_equal_scikit_learns_bit_for_bit(k, samples, masks, outputs):
    weights = kernel(pairwise_distances(masks, masks[:1], metric="cosine").ravel(), 0.25)
    for column in range(outputs.shape[1]):
        targets = outputs[:, column]
        for alpha in (1.0, 0.01):
            for selected in (np.arange(k), np.arange(k)[::-1][: max(1, k // 2)]):
                ours = Ridge(alpha).fit(masks[:, selected], targets, weights)
                theirs = SklearnRidge(alpha=alpha, fit_intercept=True).fit(masks[:, selected], targets, sample_weight=weights)
                assert ours._fallback is None  # the written-out path, not scikit-learn
                assert np.array_equal(ours.coef_, theirs.coef_) and ours.intercept_ == theirs.intercept_
                assert np.array_equal(ours.predict(masks[:, selected]), theirs.predict(masks[:, selected]))
                assert ours.score(masks[:, selected], targets, weights) == theirs.score(masks[:, selected], targets, sample_weight=weights)


def test_cases_outside_the_written_out_one_are_scikit_learns_own():
    masks = sample_masks(6, 5, 0)  # fewer samples than features
    weights = np.ones(len(masks))
    for alpha, rows in ((1.0, masks), (0.0, sample_masks(3, 200, 1))):  # alpha = 0: unregularized
        y = np.linspace(0, 1, len(rows))
        ours = Ridge(alpha).fit(rows, y, np.ones(len(rows)))
        theirs = SklearnRidge(alpha=alpha).fit(rows, y, sample_weight=np.ones(len(rows)))
        assert ours._fallback is not None
        assert np.array_equal(ours.coef_, theirs.coef_) and ours.intercept_ == theirs.intercept_
    with pytest.raises(ValueError):  # scikit-learn's own message for non-finite targets
        Ridge(1.0).fit(masks, np.full(len(masks), np.nan), weights)


def test_an_explanation_with_the_default_surrogate_imports_neither_scikit_learn_nor_scipy_stats():
    code = (
        "import sys, numpy as np, stemlime\n"
        "class Loud:\n"
        "    labels, sample_rate, input_seconds = ['loud'], 16000, None\n"
        "    def predict(self, batch): return np.sqrt((batch ** 2).mean(axis=1, keepdims=True))\n"
        "pipeline = stemlime.Pipeline(tagger=Loud(), separator='oracle')\n"
        "pipeline.explain('tests/data/piece1_16k/mixture.wav', start=1.0, duration=3.0, samples=300, seed=0)\n"
        "imported = [m for m in ('sklearn', 'scipy.stats') if m in sys.modules]\n"
        "assert not imported, f'imported {imported}'\n"
    )
    from pathlib import Path

    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
