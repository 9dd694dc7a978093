"""The explainer on real stems (piece1_16k, oracle separation) with taggers defined here."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import PIECE, STEMS, StemPresenceTagger, read_stems
from stemlime import AudioError, Pipeline, UsageError


def explain(tagger, **options):
    pipeline = Pipeline(tagger=tagger, separator="oracle", surrogate=options.pop("surrogate", "ridge"))
    return pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, progress=False, **options)


def test_weights_recover_a_known_linear_function(presence_tagger):
    explanation = explain(presence_tagger, labels=["linear"], samples="exhaustive", surrogate="ridge,alpha=1e-9")
    weights = explanation.weights("linear")
    expected = {"vocals": 0.5, "drums": 0.2, "bass": -0.3, "guitar": 0.0, "piano": 0.0}
    for stem, weight in expected.items():
        assert weights[stem] == pytest.approx(weight, abs=1e-5)  # float32 audio
    assert explanation.label("linear").intercept == pytest.approx(0.1, abs=1e-5)
    assert list(weights)[:2] == ["vocals", "drums"] and list(weights)[-1] == "bass"
    assert explanation.top("linear", 1) == [("vocals", pytest.approx(0.5, abs=1e-5))]
    assert explanation.top("linear", 1, positive=False) == [("bass", pytest.approx(-0.3, abs=1e-5))]


def test_default_ridge_keeps_order_and_sign(presence_tagger):
    explanation = explain(presence_tagger, labels="linear", samples=1000, seed=3)
    weights = explanation.weights("linear")
    assert list(weights)[0] == "vocals" and list(weights)[-1] == "bass"
    assert weights["drums"] > 0 > weights["bass"]
    assert explanation.label("linear").score > 0.95


def test_interaction_is_shared_between_its_components(presence_tagger):
    explanation = explain(presence_tagger, labels=["both"], samples="exhaustive")
    top_two = [name for name, _ in explanation.top("both", 2)]
    assert sorted(top_two) == ["drums", "vocals"]


def test_tagger_runs_once_per_distinct_mask_and_results_are_bit_identical(presence_tagger):
    first = explain(presence_tagger, samples=1000, seed=0, batch_size=7)
    assert first.distinct_evaluations == 32
    assert presence_tagger.inputs == 32 and presence_tagger.calls == 5  # ceil(32 / 7)
    assert len(first.neighbourhood.masks) == 1000
    second = explain(StemPresenceTagger(read_stems(), {"vocals": 0.5, "drums": 0.2, "bass": -0.3}), samples=1000, seed=0, batch_size=7)
    assert first.to_json() == second.to_json()
    np.testing.assert_array_equal(first.neighbourhood.predictions, second.neighbourhood.predictions)
    different_seed = explain(presence_tagger, samples=1000, seed=1)
    assert not np.array_equal(first.neighbourhood.masks, different_seed.neighbourhood.masks)


def test_all_ones_composition_is_the_mix(presence_tagger):
    explanation = explain(presence_tagger, samples=10)
    mix = read_stems().sum(axis=0)
    np.testing.assert_allclose(explanation.component_audio.sum(axis=0), mix, atol=1e-6)
    assert [c.name for c in explanation.components] == list(STEMS)


def test_listenable_explanation_is_the_sum_of_top_components(presence_tagger):
    explanation = explain(presence_tagger, labels="linear", samples="exhaustive")
    stems = dict(zip(STEMS, read_stems()))
    np.testing.assert_allclose(explanation.audio("linear", 2), stems["vocals"] + stems["drums"], atol=1e-6)


def test_labels_by_index_by_name_and_top_labels(presence_tagger):
    by_index = explain(presence_tagger, labels=[1], samples=20)
    assert list(by_index.labels) == ["both"]
    top = explain(presence_tagger, top_labels=1, samples=20)
    reference = top.neighbourhood.predictions[0]
    assert list(top.labels) == [presence_tagger.labels[int(np.argmax(reference))]]
    with pytest.raises(UsageError, match="no label 'lineer'.*'linear'"):
        explain(presence_tagger, labels=["lineer"], samples=20)


def test_exhaustive_is_refused_beyond_sixteen_components():
    from stemlime.surrogates.lime import sample_masks

    with pytest.raises(UsageError, match="up to 16 components"):
        sample_masks(17, "exhaustive", 0)


class FixedLengthTagger:
    labels = ["loud"]
    sample_rate = 16000
    input_seconds = 3.0

    def predict(self, batch):
        assert batch.shape[1] >= 48000
        return np.sqrt((batch**2).mean(axis=1, keepdims=True))


def test_short_excerpt_is_refused_with_the_required_length_unless_padded():
    pipeline = Pipeline(tagger=FixedLengthTagger())
    with pytest.raises(AudioError, match=r"needs at least 3.0 s \(48000 samples at 16000 Hz\).*pad"):
        pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=2.0, progress=False)
    padded = pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=2.0, pad=True, samples=20, progress=False)
    assert padded.component_audio.shape == (5, 48000)
    assert np.all(padded.component_audio[:, 32000:] == 0)


def test_explaining_an_array_with_the_none_separator(presence_tagger):
    mix = read_stems().sum(axis=0)
    explanation = Pipeline(tagger=FixedLengthTagger(), separator="none").explain(mix, sample_rate=16000, samples=10, progress=False)
    assert [c.name for c in explanation.components] == ["mix"]
    assert explanation.audio_path is None


class RecordingTagger(FixedLengthTagger):
    input_seconds = None

    def __init__(self):
        self.seen = []

    def predict(self, batch):
        self.seen.extend(batch.copy())
        return super().predict(batch)


@pytest.mark.parametrize("mode", ["audiolime", "zeros"])
def test_what_the_tagger_hears_when_every_component_is_off(mode):
    tagger = RecordingTagger()
    pipeline = Pipeline(tagger=tagger, empty_mask=mode)
    explanation = pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples="exhaustive", progress=False)
    silent = [audio for audio in tagger.seen if np.ptp(audio) == 0]
    assert len(silent) == 1 and len(tagger.seen) == 32
    expected = 0.0 if mode == "zeros" else explanation.component_audio.sum(axis=0).min()  # audioLIME: the mix's minimum
    assert silent[0][0] == pytest.approx(expected, abs=1e-7)
    with pytest.raises(UsageError, match="empty_mask"):
        Pipeline(tagger=tagger, empty_mask="bogus").explain(PIECE / "mixture.wav", samples=5, progress=False)
