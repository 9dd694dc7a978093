"""The explanation engine and the stem cache: one evaluation per distinct mask, stems once per song."""

from __future__ import annotations

import json

import numpy as np
import pytest

import stemlime
from conftest import PIECE, STEMS, StemPresenceTagger, read_stems
from stemlime.engine import Engine, sample_until_stable
from stemlime.stemcache import StemCache
from stemlime.surrogates import RidgeSurrogate


class CountingTagger:
    """Loudness per input; counts the inputs it was asked about."""

    labels = ["loud"]
    sample_rate = 16000
    input_seconds = None

    def __init__(self):
        self.inputs = 0

    def predict(self, batch):
        self.inputs += len(batch)
        return np.tanh(10 * np.sqrt((batch.astype(np.float64) ** 2).mean(axis=1, keepdims=True)))


class CountingSeparator:
    """Two 'stems' (the first and second half of the spectrum would do; here: 0.3 and 0.7 of the mix)."""

    sample_rate = None

    def __init__(self):
        self.calls = []

    def separate(self, audio, sample_rate):
        self.calls.append(len(audio))
        return {"low": 0.3 * audio, "high": 0.7 * audio}


def test_the_engine_runs_the_tagger_once_per_distinct_mask_and_remembers_them():
    tagger = CountingTagger()
    engine = Engine(read_stems(), tagger, RidgeSurrogate())
    masks = engine.masks(1000, seed=0)
    first = engine.outputs(masks)
    assert tagger.inputs == len(np.unique(masks, axis=0)) == 32 == engine.evaluations
    again = engine.outputs(masks[::-1])
    assert tagger.inputs == 32 and np.array_equal(again, first[::-1])


class MixingTagger(CountingTagger):
    """A tagger that mixes the perturbations itself (the stage / predict_masks slots), here in
    numpy, as a GPU tagger does on its device; records what the engine sent."""

    mask_batch_size = 10

    def __init__(self, decline: bool = False):
        super().__init__()
        self.decline, self.staged, self.calls = decline, 0, []

    def stage(self, component_audio):
        self.staged += 1
        return None if self.decline else component_audio.copy()

    def predict_masks(self, staged, masks, empty_value):
        self.calls.append(masks.shape)
        audio = masks @ staged
        audio[masks.sum(axis=1) == 0] = empty_value
        return self.predict(audio)


@pytest.mark.parametrize("empty_mask", ["audiolime", "zeros"])
def test_a_tagger_that_mixes_the_perturbations_itself_gets_the_components_once_and_gives_the_same_outputs(empty_mask):
    plain, mixing = CountingTagger(), MixingTagger()
    masks = Engine(read_stems(), plain, RidgeSurrogate()).masks(1000, seed=0)
    expected = Engine(read_stems(), plain, RidgeSurrogate(), empty_mask=empty_mask).outputs(masks)
    engine = Engine(read_stems(), mixing, RidgeSurrogate(), empty_mask=empty_mask, batch_size=4)
    assert np.array_equal(engine.outputs(masks), expected)  # the same float32 products
    assert mixing.staged == 1 and [shape[0] for shape in mixing.calls] == [10, 10, 10, 2]  # its batch, not 4
    assert all(shape[1] == 5 for shape in mixing.calls) and engine.evaluations == 32


def test_a_tagger_that_declines_to_stage_is_given_mixed_audio():
    declining = MixingTagger(decline=True)
    engine = Engine(read_stems(), declining, RidgeSurrogate(), batch_size=4)
    engine.outputs(engine.masks(1000, seed=0))
    assert declining.staged == 1 and declining.calls == [] and declining.inputs == 32


def test_a_neighbourhood_too_small_to_fit_is_refused_before_the_tagger_runs():
    tagger = CountingTagger()
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle")
    for samples in (1, 2, 3):
        with pytest.raises(stemlime.UsageError, match="distinct mask"):
            pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples=samples, seed=0)
    assert tagger.inputs == 0


def test_labels_are_checked_before_the_tagger_runs():
    tagger = CountingTagger()
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle")
    with pytest.raises(stemlime.UsageError, match="no label 'lod'"):
        pipeline.explain(PIECE / "mixture.wav", labels="lod", start=1.0, duration=3.0)
    with pytest.raises(stemlime.UsageError, match="top_labels must be"):
        pipeline.explain(PIECE / "mixture.wav", top_labels=2, start=1.0, duration=3.0)
    with pytest.raises(stemlime.UsageError, match="either labels or top_labels"):
        pipeline.explain(PIECE / "mixture.wav", labels="loud", top_labels=1, start=1.0, duration=3.0)
    assert tagger.inputs == 0


def test_auto_samples_stop_when_the_ranking_of_all_components_settles_and_equal_a_fixed_count():
    stems = read_stems()
    tagger = StemPresenceTagger(stems, {"vocals": 0.5, "drums": 0.3, "bass": -0.2, "piano": 0.05})
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle")
    auto = pipeline.explain(PIECE / "mixture.wav", labels="linear", start=1.0, duration=3.0, samples="auto", seed=3)
    rounds = auto.sampling["rounds"]
    assert auto.sampling["stable"] and rounds[-1]["stable"] and len(rounds) >= 2
    assert rounds[-1]["kendall_tau"] >= 0.95 and rounds[-1]["max_change"] <= 0.1
    assert not any(r["stable"] for r in rounds[:-1])
    assert [r["samples"] for r in rounds] == [128 * 2**i for i in range(len(rounds))]
    fixed = pipeline.explain(PIECE / "mixture.wav", labels="linear", start=1.0, duration=3.0, samples=auto.sampling["samples"], seed=3)
    assert auto.weights("linear") == fixed.weights("linear")
    assert list(auto.weights("linear"))[:2] == ["vocals", "drums"]
    assert json.loads(auto.to_json())["sampling"]["samples"] == auto.sampling["samples"]


def test_auto_samples_stop_at_the_most_and_say_it_was_not_stable():
    rng = np.random.default_rng(0)

    class Noisy:  # the same mask gets a new random output each time: never stable
        labels, sample_rate, input_seconds = ["noise"], 16000, None

        def predict(self, batch):
            return rng.random((len(batch), 1))

    engine = Engine(rng.standard_normal((12, 800)).astype(np.float32), Noisy(), RidgeSurrogate())
    masks, _, rounds = sample_until_stable(engine, 0, [0], first=64, most=256)
    assert len(masks) == 256 and not rounds[-1]["stable"]


def test_auto_samples_watch_the_whole_ranking_not_only_the_top():
    """Five strong components, seven weak ones: the weights barely move between rounds while the
    weak ones still change places, so the whole ranking keeps sampling until it agrees."""
    rng = np.random.default_rng(1)
    components = rng.standard_normal((12, 400)).astype(np.float32)
    coefficients = np.r_[5.0, 4.0, 3.0, 2.0, 1.0, 0.01 * rng.standard_normal(7)]
    pairs = 0.1 * rng.standard_normal((12, 12))

    class Interacting:  # additive plus pairwise interactions, which the linear surrogate cannot follow
        labels, sample_rate, input_seconds = ["y"], 16000, None

        def predict(self, batch):
            gains = np.linalg.lstsq(components.T.astype(np.float64), batch.T.astype(np.float64), rcond=None)[0].T.round(6)
            return (gains @ coefficients + np.einsum("bi,ij,bj->b", gains, pairs, gains))[:, None]

    engine = Engine(components, Interacting(), RidgeSurrogate())
    masks, _, rounds = sample_until_stable(engine, 0, [0])
    unsettled = [r for r in rounds[1:-1] if r["max_change"] <= 0.1 and r["kendall_tau"] < 0.95]
    assert unsettled, rounds  # the weights alone would have stopped here
    assert rounds[-1]["stable"] and rounds[-1]["kendall_tau"] >= 0.95 and len(masks) == rounds[-1]["samples"]
    weights = engine.fit_weights(engine.neighbourhood(masks), [0])[0]
    assert list(np.argsort(-weights)[:5]) == [0, 1, 2, 3, 4]


def test_a_song_is_separated_once_and_every_excerpt_is_cut_from_its_stems(tmp_path):
    separator = CountingSeparator()
    pipeline = stemlime.Pipeline(tagger=CountingTagger(), separator=separator, cache=StemCache(tmp_path))
    mix = stemlime.load_audio(PIECE / "mixture.wav", 16000)[0]
    first = pipeline.stems(PIECE / "mixture.wav", start=1.0, duration=2.0)
    second = pipeline.stems(PIECE / "mixture.wav", start=0.5, duration=1.0)
    assert separator.calls == [len(mix)]  # the whole input, once
    assert np.array_equal(first["high"], (0.7 * mix)[16000:48000])
    assert np.array_equal(second["low"], (0.3 * mix)[8000:24000])


def test_the_stem_cache_on_disk_serves_a_new_pipeline_and_can_be_bypassed(tmp_path):
    spec = {"separator": CountingSeparator()}
    first = stemlime.Pipeline(tagger=CountingTagger(), separator=spec["separator"], cache=StemCache(tmp_path))
    first.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples="exhaustive")
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    fresh = CountingSeparator()  # same class, same version: the same cache key
    second = stemlime.Pipeline(tagger=CountingTagger(), separator=fresh, cache=StemCache(tmp_path))
    explanation = second.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples="exhaustive")
    assert fresh.calls == [] and list(explanation.weights("loud")) == ["high", "low"]
    uncached = stemlime.Pipeline(tagger=CountingTagger(), separator=fresh, cache=False)
    uncached.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples="exhaustive")
    assert len(fresh.calls) == 1


def test_the_stem_cache_stays_within_its_size(tmp_path):
    cache = StemCache(tmp_path, max_bytes=3 * 4 * 16000 + 2000)
    for index in range(4):
        cache.put(f"song{index}", {"a": np.full(16000, index, np.float32)})
    assert len(list(tmp_path.glob("*.safetensors"))) <= 3
    cache.clear_memory()
    assert cache.get("song3")["a"][0] == 3


def test_excerpt_stems_match_the_old_behaviour_when_asked_for():
    separator = CountingSeparator()
    pipeline = stemlime.Pipeline(tagger=CountingTagger(), separator=separator, stems_from="excerpt", cache=False)
    stems = pipeline.stems(PIECE / "mixture.wav", start=1.0, duration=2.0)
    assert separator.calls == [32000] and set(stems) == {"low", "high"}


def test_the_explanation_records_how_well_the_stems_add_up_and_what_the_outputs_are():
    class Logits(CountingTagger):
        def predict(self, batch):
            return 20 * super().predict(batch) - 5  # scores, not probabilities

    explanation = stemlime.Pipeline(tagger=Logits(), separator="oracle").explain(
        PIECE / "mixture.wav", start=1.0, duration=3.0, samples=64, seed=0
    )
    data = json.loads(explanation.to_json())
    assert data["outputs"] == "scores" and data["stems_residual_db"] > 100  # oracle stems sum to the mix
    probabilities = stemlime.Pipeline(tagger=CountingTagger(), separator="oracle").explain(
        PIECE / "mixture.wav", start=1.0, duration=3.0, samples=64, seed=0
    )
    assert json.loads(probabilities.to_json())["outputs"] == "probabilities"


def test_explanation_json_is_strict_json_even_for_undefined_numbers():
    class Constant(CountingTagger):
        def predict(self, batch):
            return np.full((len(batch), 1), 0.5)

    explanation = stemlime.Pipeline(tagger=Constant(), separator="oracle").explain(
        PIECE / "mixture.wav", start=1.0, duration=3.0, samples=64, seed=0, checks="complexity"
    )
    text = explanation.to_json()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))


def test_a_pipeline_files_defaults_yield_to_the_arguments(tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text('[tagger]\nname = "python"\nobject = "m:t"\n[explain]\ntop_labels = 1\nsamples = 64\nseed = 4\n')
    (tmp_path / "m.py").write_text(
        "import numpy as np\nclass T:\n    labels=['a','b']\n    sample_rate=16000\n"
        "    input_seconds=None\n    def predict(self, b):\n        return np.full((len(b),2),0.5)\nt=T()\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        pipeline = stemlime.Pipeline.from_config(config)
        options = pipeline.request(labels=["b"])
        assert options.labels == ("b",) and options.top_labels is None and options.samples == 64 and options.seed == 4
        assert pipeline.request(top_labels=2).top_labels == 2
        with pytest.raises(stemlime.UsageError, match="either labels or top_labels"):
            pipeline.request(labels=["b"], top_labels=2)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize("stem_names", [STEMS])
def test_whole_song_oracle_components_keep_their_order(stem_names):
    explanation = stemlime.Pipeline(tagger=CountingTagger(), separator="oracle").explain(
        PIECE / "mixture.wav", start=1.0, duration=3.0, samples=64, seed=0
    )
    assert [c.name for c in explanation.components] == list(stem_names)


def test_the_composition_runs_in_one_blas_thread_with_the_same_numbers():
    from threadpoolctl import threadpool_info

    from stemlime.components import compose
    from stemlime.workers import one_blas_thread

    rng = np.random.default_rng(0)
    masks, audio = rng.integers(0, 2, (32, 6)), rng.standard_normal((6, 48000)).astype(np.float32)
    before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    with one_blas_thread():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    assert [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"] == before
    assert np.array_equal(compose(masks, audio), masks.astype(np.float32) @ audio)  # many BLAS threads or one


def test_a_training_loops_torch_threads_are_the_callers_again_however_the_block_ends():
    torch = pytest.importorskip("torch")
    from stemlime.errors import UsageError
    from stemlime.workers import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(UsageError, match="threads must be a whole number >= 1"):
            with torch_threads(bad):
                pass
