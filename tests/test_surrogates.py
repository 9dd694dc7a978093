"""Surrogates: ridge, lasso, linear, kernel_shap and tree, on a tagger whose answers are known.

The StemPresenceTagger (conftest) outputs ``0.1 + 0.5 vocals + 0.2 drums - 0.3 bass`` for label
``linear`` (an additive set function of the stems present) and ``vocals x drums`` for label
``both`` (a pure interaction), so the right weights are known in closed form.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

import stemlime
from conftest import PIECE, STEMS, StemPresenceTagger, read_stems
from stemlime import UsageError
from stemlime.surrogates.shapley import KernelShapSurrogate, shapley_kernel, shapley_masks

MIX = str(PIECE / "mixture.wav")
COEFFICIENTS = {"vocals": 0.5, "drums": 0.2, "bass": -0.3}


def explain(tagger, surrogate, samples="exhaustive", seed=0, empty_mask="zeros", **options):
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle", surrogate=surrogate, empty_mask=empty_mask)
    return pipeline.explain(MIX, start=1.0, duration=3.0, samples=samples, seed=seed, labels=["linear", "both"], **options)


def brute_force_shapley(value_of: dict[frozenset, np.ndarray], players: list[str]) -> dict[str, np.ndarray]:
    """Shapley's formula: the weighted mean of each player's marginal contributions over all coalitions."""
    k = len(players)
    values = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for size in range(k):
            for coalition in itertools.combinations(others, size):
                weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
                total = total + weight * (value_of[frozenset(coalition) | {player}] - value_of[frozenset(coalition)])
        values[player] = total
    return values


class GameTagger(StemPresenceTagger):
    """Outputs an arbitrary (seeded random) value for each set of stems present: a cooperative game
    with interactions of every order, where only the Shapley kernel gives the Shapley values."""

    labels = ["game"]

    def __init__(self, stems: np.ndarray, seed: int = 0):
        super().__init__(stems, {})
        self.table = np.random.default_rng(seed).uniform(0, 1, 2 ** len(STEMS))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        present = np.round(self.gains(batch)).astype(int)  # 0/1 per stem
        assert set(np.unique(present)) <= {0, 1}
        return self.table[present @ (2 ** np.arange(len(STEMS)))][:, None]


def tagger_on_every_coalition(tagger, stems: np.ndarray) -> dict[frozenset, np.ndarray]:
    """The tagger's outputs for every subset of stems mixed together (silence for the empty set)."""
    table = {}
    for bits in itertools.product([0, 1], repeat=len(STEMS)):
        mix = (np.array(bits, dtype=np.float32) @ stems)[None]
        table[frozenset(s for s, b in zip(STEMS, bits) if b)] = tagger.predict(mix)[0]
    return table


# ------------------------------------------------------------------------------ kernel SHAP


def test_exact_kernel_shap_recovers_the_brute_force_shapley_values(presence_tagger):
    explanation = explain(presence_tagger, "kernel_shap", samples=1000)  # 2^5 = 32 <= 1000: exact
    assert explanation.distinct_evaluations == 32  # every coalition, the empty and the full included
    shapley = brute_force_shapley(tagger_on_every_coalition(presence_tagger, presence_tagger.stems), list(STEMS))
    for label in ("linear", "both"):
        column = explanation.label(label).index
        weights = explanation.weights(label)
        for stem in STEMS:
            assert weights[stem] == pytest.approx(shapley[stem][column], abs=1e-9)
    # and the brute force agrees with the closed form of the known set functions
    assert explanation.weights("linear") == pytest.approx({s: COEFFICIENTS.get(s, 0.0) for s in STEMS}, abs=1e-5)
    assert explanation.weights("both") == pytest.approx({"vocals": 0.5, "drums": 0.5, "bass": 0, "guitar": 0, "piano": 0}, abs=1e-5)


def test_exact_kernel_shap_solves_a_game_with_interactions_of_every_order():
    tagger = GameTagger(read_stems())
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle", surrogate="kernel_shap", empty_mask="zeros")
    explanation = pipeline.explain(MIX, start=1.0, duration=3.0, samples="exhaustive", labels="game")
    shapley = brute_force_shapley(tagger_on_every_coalition(tagger, tagger.stems), list(STEMS))
    weights = explanation.weights("game")
    assert max(abs(weights[stem] - shapley[stem][0]) for stem in STEMS) < 1e-9
    assert sum(weights.values()) == pytest.approx(tagger.table[-1] - tagger.table[0], abs=1e-12)


@pytest.mark.parametrize("empty_mask", ["zeros", "audiolime"])
def test_shapley_values_add_up_to_all_minus_none(presence_tagger, empty_mask):
    explanation = explain(presence_tagger, "kernel_shap", empty_mask=empty_mask)
    neighbourhood = explanation.neighbourhood
    f_all = neighbourhood.predictions[neighbourhood.masks.sum(axis=1) == 5][0]
    f_none = neighbourhood.predictions[neighbourhood.masks.sum(axis=1) == 0][0]
    for name, label in explanation.labels.items():
        assert sum(label.weights.values()) == pytest.approx(f_all[label.index] - f_none[label.index], abs=1e-12)
        assert label.intercept == f_none[label.index]
        assert label.local_prediction == pytest.approx(label.prediction, abs=1e-12)


def test_sampled_kernel_shap_draws_complementary_pairs_and_keeps_efficiency(presence_tagger):
    masks = shapley_masks(5, 20, seed=3)  # fewer samples than the 32 coalitions: sampled
    assert masks.shape == (20, 5)
    assert masks[0].tolist() == [1] * 5 and masks[1].tolist() == [0] * 5
    assert all(np.array_equal(masks[i], 1 - masks[i + 1]) for i in range(2, 20, 2))
    assert np.array_equal(masks, shapley_masks(5, 20, seed=3))
    explanation = explain(presence_tagger, "kernel_shap", samples=20, seed=3)
    assert explanation.distinct_evaluations <= 20
    # an additive set function is recovered from any coalitions; the interaction still adds up
    assert explanation.weights("linear") == pytest.approx({s: COEFFICIENTS.get(s, 0.0) for s in STEMS}, abs=1e-5)
    both = explanation.label("both")
    assert sum(both.weights.values()) == pytest.approx(1.0, abs=1e-5)


def test_shapley_kernel_weights():
    assert shapley_kernel(np.array([0, 5]), 5).tolist() == [math.inf, math.inf]
    assert shapley_kernel(np.array([1, 2, 3, 4]), 5) == pytest.approx([4 / (5 * 4), 4 / (10 * 6), 4 / (10 * 6), 4 / (5 * 4)])


def test_kernel_shap_refuses_masks_without_the_empty_coalition():
    masks = np.array([[1, 1], [1, 0], [0, 1]])
    with pytest.raises(UsageError, match="empty and the full coalition"):
        KernelShapSurrogate().fit(masks, np.array([1.0, 0.5, 0.4]), np.ones(3))


# ------------------------------------------------------------------------------ linear family


def test_plain_least_squares_recovers_an_additive_tagger(presence_tagger):
    explanation = explain(presence_tagger, "linear")
    assert explanation.weights("linear") == pytest.approx({s: COEFFICIENTS.get(s, 0.0) for s in STEMS}, abs=1e-5)
    assert explanation.label("linear").score == pytest.approx(1.0)


def test_lasso_zeroes_what_does_not_matter(presence_tagger):
    lasso = explain(presence_tagger, "lasso,alpha=0.01").weights("linear")
    assert lasso["guitar"] == 0.0 and lasso["piano"] == 0.0
    assert lasso["vocals"] > lasso["drums"] > 0 > lasso["bass"]
    # shrinkage: the L1 penalty pulls every weight towards zero
    assert abs(lasso["vocals"]) < 0.5 and abs(lasso["bass"]) < 0.3
    stronger = explain(presence_tagger, "lasso,alpha=0.2").weights("linear")
    assert sum(w != 0 for w in stronger.values()) < sum(w != 0 for w in lasso.values())


def test_ridge_stays_the_default(presence_tagger):
    pipeline = stemlime.Pipeline(tagger=presence_tagger, separator="oracle")
    assert pipeline.specs["surrogate"] == "ridge"


# ------------------------------------------------------------------------------ tree


def test_the_tree_finds_the_interaction_rule(presence_tagger, tmp_path):
    explanation = explain(presence_tagger, "tree,max_depth=2")
    both = explanation.label("both")
    assert both.rules, "a rule surrogate returns its rules"
    loud = [rule for rule in both.rules if rule.endswith("-> 1.0000")]
    assert len(loud) == 1 and "vocals on" in loud[0] and "drums on" in loud[0]
    assert all(rule.endswith("-> 0.0000") for rule in both.rules if rule not in loud)
    weights = explanation.weights("both")
    assert min(weights["vocals"], weights["drums"]) > 0.3 and max(abs(weights[s]) for s in ("bass", "guitar", "piano")) < 1e-9
    explanation.save(tmp_path)
    saved = json.loads((tmp_path / "explanation.json").read_text())
    assert saved["labels"]["both"]["rules"] == both.rules
    assert "rules" not in explain(presence_tagger, "ridge").to_dict()["labels"]["both"]


# ------------------------------------------------------------------------------ registry, errors, determinism


def test_every_surrogate_is_listed_with_its_options():
    surrogates = {f["name"]: f for f in stemlime.Registry().describe()["surrogates"]}
    assert {"ridge", "lasso", "linear", "kernel_shap", "tree"} <= set(surrogates)
    assert [o["name"] for o in surrogates["lasso"]["options"]] == ["alpha"]
    assert {o["name"] for o in surrogates["tree"]["options"]} == {"max_depth", "min_weight_fraction_leaf"}


def test_a_bad_surrogate_option_is_a_usage_error(cli, tmp_path):
    result = cli("explain", MIX, "--tagger", "python,object=numpy:mean", "--surrogate", "lasso,alpha=strong", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "option alpha='strong' is not a valid float" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("surrogate", ["lasso", "kernel_shap", "tree"])
def test_same_inputs_and_seed_give_identical_weights(presence_tagger, surrogate):
    first = explain(presence_tagger, surrogate, samples=24, seed=7)
    second = explain(presence_tagger, surrogate, samples=24, seed=7)
    assert first.to_json() == second.to_json()
