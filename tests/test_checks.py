"""Trust checks: fidelity (deletion/insertion AOPC), stability, sanity (model randomization), complexity.

Known-answer taggers make the expectations exact: the StemPresenceTagger (conftest) outputs a
known function of the stems present, and a small PyTorch tagger defined here can randomize its
layers the way the musicnn plugin does.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from scipy.stats import entropy

import stemlime
from conftest import PIECE, STEMS, write_loudness_module
from model_support import musicnn_folder
from readme import code_block_after, doc
from stemlime import Segment, UsageError
from stemlime.checks import (
    complexity,
    deletion_aopc,
    explanation_complexity,
    explanation_sanity,
    fidelity,
    format_checks,
    insertion_aopc,
    run_checks,
    samples_for_stability,
    stability,
)

MIX = str(PIECE / "mixture.wav")


def explain(tagger, samples="exhaustive", seed=0, segmenter="whole", labels=("linear", "both"), **options):
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle", segmenter=segmenter)
    return pipeline, pipeline.explain(MIX, start=1.0, duration=3.0, samples=samples, seed=seed, labels=list(labels), **options)


# ------------------------------------------------------------------------------ fidelity


def test_aopc_is_the_mean_change_along_the_curve():
    assert deletion_aopc([0.9, 0.5, 0.3, 0.1]) == pytest.approx((0 + 0.4 + 0.6 + 0.8) / 4)
    assert insertion_aopc([0.1, 0.6, 0.8, 0.9]) == pytest.approx((0 + 0.5 + 0.7 + 0.8) / 4)


def test_the_explanations_order_beats_random_orders(presence_tagger):
    pipeline, explanation = explain(presence_tagger)
    calls = presence_tagger.calls
    result = fidelity(pipeline, explanation, random_orders=20)
    assert presence_tagger.calls == calls, "every deletion/insertion mask is in the exhaustive neighbourhood already"
    linear = result["labels"]["linear"]
    assert linear["order"][:2] == ["vocals", "drums"] and linear["order"][-1] == "bass"
    assert linear["deletion"]["aopc"] > linear["deletion"]["random_aopc"]
    assert linear["insertion"]["aopc"] > linear["insertion"]["random_aopc"]
    assert linear["beats_random"] and result["labels"]["both"]["beats_random"]
    assert linear["r2"] == explanation.label("linear").score
    # both curves run between the whole excerpt and the all-off signal
    deletion, insertion = linear["deletion"]["curve"], linear["insertion"]["curve"]
    assert len(deletion) == len(insertion) == len(STEMS) + 1
    assert deletion[0] == insertion[-1] == explanation.label("linear").prediction
    assert deletion[-1] == insertion[0]


def test_a_reversed_explanation_does_not_beat_random_orders(presence_tagger):
    pipeline, explanation = explain(presence_tagger)
    reversed_labels = {
        name: attrs.evolve(label, weights={c: -w for c, w in label.weights.items()}) for name, label in explanation.labels.items()
    }
    wrong = attrs.evolve(explanation, labels=reversed_labels)
    result = fidelity(pipeline, wrong, random_orders=20)["labels"]["linear"]
    assert result["deletion"]["aopc"] < result["deletion"]["random_aopc"]
    assert result["insertion"]["aopc"] < result["insertion"]["random_aopc"]
    assert not result["beats_random"]


# ------------------------------------------------------------------------------ stability


def test_the_same_neighbourhood_is_perfectly_stable(presence_tagger):
    pipeline, explanation = explain(presence_tagger, samples="exhaustive")
    result = stability(pipeline, explanation, seeds=3)
    assert result["seeds"] == [0, 1, 2]
    assert result["labels"]["linear"] == {"top1": 1.0, "kendall_tau": 1.0, "spearman": 1.0}


def test_small_neighbourhoods_are_less_stable_and_the_search_finds_enough_samples(presence_tagger):
    pipeline, explanation = explain(presence_tagger, samples=8, labels=["both"])
    small = stability(pipeline, explanation, seeds=5)["labels"]["both"]
    assert small["kendall_tau"] < 0.9
    search = samples_for_stability(pipeline, explanation, target=0.6, seeds=5, first=8, most=512)
    assert search["samples"] is not None
    taus = [step["kendall_tau"] for step in search["steps"]]
    assert taus[-1] >= 0.6 and all(t < 0.6 for t in taus[:-1])
    assert search["steps"][-1]["samples"] == search["samples"]


def test_stability_needs_two_seeds(presence_tagger):
    pipeline, explanation = explain(presence_tagger)
    with pytest.raises(UsageError, match="at least 2 seeds"):
        stability(pipeline, explanation, seeds=1)


# ------------------------------------------------------------------------------ sanity (model randomization)


class SpectralNet(torch.nn.Module):
    """Log-magnitude STFT (256 samples, hop 128) -> two 1-D convolutions over time -> mean -> dense -> sigmoid."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(129, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv1d(16, 16, 3, padding=1)
        self.output = torch.nn.Linear(16, 2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(audio, 256, 128, window=torch.hann_window(256), return_complex=True).abs()  # (B, 129, frames)
        hidden = torch.relu(self.conv2(torch.relu(self.conv1(torch.log1p(100 * spectrum)))))
        return torch.sigmoid(self.output(hidden.mean(dim=2)))


# Bins of the 256-point STFT at 16 kHz are 62.5 Hz apart.
LOW_BAND, MID_BAND, HIGH_BAND = range(1, 5), range(8, 33), range(96, 129)  # 62-250 Hz, 0.5-2 kHz, 6-8 kHz


def structured_spectral_net() -> SpectralNet:
    """A SpectralNet "trained by construction": label a hears bass, label b hears hi-hats.

    conv1 (centre tap) averages the log spectrum over three bands (channels 0-2: low, mid, high;
    the other 13 units are dead), conv2 passes those three channels through, and the output
    compares bands: a = 2 (low - mid) - 1, b = 2 (high - mid) + 4.5 (a difference of log
    magnitudes is a spectral shape, not a loudness; the offsets put the excerpt's outputs in the
    sigmoid's middle range). On the test excerpt a ranks the bass components first, b the drums.
    """
    network = SpectralNet()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        for channel, band in enumerate((LOW_BAND, MID_BAND, HIGH_BAND)):
            network.conv1.weight[channel, list(band), 1] = 1 / len(band)
            network.conv2.weight[channel, channel, 1] = 1
        network.output.weight[0, 0], network.output.weight[0, 1], network.output.bias[0] = 2.0, -2.0, -1.0
        network.output.weight[1, 2], network.output.weight[1, 1], network.output.bias[1] = 2.0, -2.0, 4.5
    return network


class TorchTagger:
    """A small PyTorch tagger that can randomize its layers from the top down, like musicnn's."""

    labels = ["a", "b"]
    sample_rate = 16000
    input_seconds = None
    randomization_layers = ("output", "conv2", "conv1")

    def __init__(self, network: torch.nn.Module | None = None):
        self.network = (structured_spectral_net() if network is None else network).eval()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.network(torch.from_numpy(np.asarray(batch, np.float32))).double().numpy()

    def randomized(self, layers: int, seed: int = 0) -> "TorchTagger":
        network = copy.deepcopy(self.network)
        for position, name in enumerate(self.randomization_layers[:layers]):
            generator = torch.Generator().manual_seed(seed * 1000 + position)
            layer = getattr(network, name)
            bound = 1 / np.sqrt(np.prod(layer.weight.shape[1:]))
            with torch.no_grad():
                for parameter in (layer.weight, layer.bias):
                    parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)
        return TorchTagger(network)


class Quarters:
    """Four rectangular time segments: 5 stems x 4 segments = 20 components to rank."""

    def segment(self, mix: np.ndarray, rate: int) -> list[Segment]:
        edges = np.linspace(0, len(mix), 5).astype(int)
        segments = []
        for first, last in zip(edges[:-1], edges[1:]):
            window = np.zeros(len(mix), np.float32)
            window[first:last] = 1
            segments.append(Segment(first / rate, last / rate, window, f"{first / rate:.2f}-{last / rate:.2f}s"))
        return segments


@pytest.mark.slow
def test_explanations_of_a_randomized_model_no_longer_agree():
    # The tagger is structured (label a = bass, b = hi-hats, see structured_spectral_net). One
    # random network is a noisy verdict: its explanation of these 20 components roughly follows
    # their loudness, with a sign that depends on the draw (measured over draws 0-4 at 200
    # samples, final step, a / b: -0.18 / 0.24, 0.72 / -0.72, -0.31 / 0.05, -0.06 / 0.68,
    # -0.50 / 0.63). So the check takes the median over draws, and 500 samples make the
    # seed-to-seed baseline of both labels exceed 0.9 (200 samples: b 0.89; 500: 0.97 / 0.94).
    pipeline, explanation = explain(TorchTagger(), samples=500, segmenter=Quarters(), labels=("a", "b"))
    assert len(explanation.components) == 20
    assert {name for name, _ in explanation.top("a", 4)} == {
        f"bass@{segment}" for segment in ("0.00-0.75s", "0.75-1.50s", "1.50-2.25s", "2.25-3.00s")
    }
    assert all(name.startswith("drums@") for name, _ in explanation.top("b", 3)), "the structured model hears what it was built for"
    result = explanation_sanity(pipeline, explanation, seeds=3, draws=5)
    assert result["layers"] == ["output", "conv2", "conv1"]
    assert [step["randomized"] for step in result["steps"]] == [["output"], ["output", "conv2"], ["output", "conv2", "conv1"]]
    for label in ("a", "b"):
        assert result["baseline"][label] > 0.9, "seed to seed, the structured model's explanations agree"
        draws = result["steps"][-1]["draws"][label]
        assert len(set(draws)) == 5, "each draw is a different random network"
        assert result["steps"][-1]["spearman"][label] == np.median(draws) < 0.5, "with every layer random, the ranking collapses"
    assert result["all_passed"]


def test_sanity_needs_a_tagger_that_can_randomize_itself(presence_tagger):
    pipeline, explanation = explain(presence_tagger)
    with pytest.raises(UsageError, match="randomized"):
        explanation_sanity(pipeline, explanation)


def test_musicnn_randomizes_its_layers_in_a_cascade_from_the_top():
    folder = musicnn_folder("MSD_musicnn")
    from stemlime_musicnn.tagger import MusicnnTagger

    tagger = MusicnnTagger("MSD_musicnn", device="cpu", model_dir=folder)
    assert tagger.randomization_layers[:2] == ("output", "dense") and tagger.randomization_layers[-1] == "frontend.timbral"
    original = {k: v.clone() for k, v in tagger.network.state_dict().items()}
    one, two = tagger.randomized(layers=1, seed=0), tagger.randomized(layers=2, seed=0)
    state, one_state, two_state = tagger.network.state_dict(), one.network.state_dict(), two.network.state_dict()
    assert all(torch.equal(state[k], original[k]) for k in original), "the original tagger is untouched"
    changed_by_one = {k for k in original if not torch.equal(one_state[k], original[k])}
    assert changed_by_one == {"backend.output.weight", "backend.output.bias"}
    assert torch.equal(two_state["backend.output.weight"], one_state["backend.output.weight"]), "the cascade keeps step 1"
    assert not torch.equal(two_state["backend.dense.weight"], original["backend.dense.weight"])
    assert torch.equal(two_state["midend.conv3.weight"], original["midend.conv3.weight"])
    # a randomized layer's batch norm goes back to its state before training (no trained statistics
    # left to saturate the random layer's output); the back end's pooling batch norm still sees
    # trained features at step 2
    changed_by_two = {k for k in original if not torch.equal(two_state[k], original[k])}
    assert changed_by_two == {f"backend.{m}.{p}" for m in ("output", "dense") for p in ("weight", "bias")} | {
        f"backend.bn_dense.{b}" for b in ("weight", "bias", "running_mean", "running_var")
    }
    fresh = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}
    assert all(torch.all(two_state[f"backend.bn_dense.{b}"] == v) for b, v in fresh.items())
    three = tagger.randomized(layers=3, seed=0).network.state_dict()
    assert torch.equal(three["backend.dense.weight"], two_state["backend.dense.weight"]), "the cascade keeps step 2"
    assert all(torch.all(three[f"midend.bn3.{b}"] == v) for b, v in fresh.items())
    assert torch.equal(three["midend.bn2.running_var"], original["midend.bn2.running_var"])
    # bn_pool: (max, mean) pairs of [561 front-end, 64 cnn1, 64 cnn2, 64 cnn3] -> cnn3 is 1378..1505
    cnn3 = slice(2 * (561 + 128), 2 * 753)
    assert all(torch.all(three[f"backend.bn_pool.{b}"][cnn3] == v) for b, v in fresh.items())
    assert torch.equal(three["backend.bn_pool.running_var"][: cnn3.start], original["backend.bn_pool.running_var"][: cnn3.start])
    audio = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1
    assert np.array_equal(one.predict(audio[None]), tagger.randomized(layers=1, seed=0).predict(audio[None]))
    assert not np.allclose(one.predict(audio[None]), tagger.predict(audio[None]), atol=1e-3)
    with pytest.raises(UsageError, match="layers must be a count"):
        tagger.randomized(layers=99)


@pytest.mark.slow
def test_musicnn_explanations_no_longer_agree_once_its_top_layers_are_random():
    # Real MSD_musicnn weights; oracle stems x 2 halves = 10 components, 200 samples, the cascade
    # cut at 3 steps (output, dense, midend.conv3) to keep the test near 40 s on 2 cores. Measured
    # first (randomization seeds 0-4; the deeper steps take minutes on a CPU):
    #   baseline (2 seeds): 0.76-0.99, under 0.9 in 6 of 15 label x seed cases (pop 0.83 at seed 0)
    #   after output:       -0.37..0.70 (2 of 15 above 0.5)
    #   after dense:        -0.53..0.77 (2 of 15 above 0.5)
    #   after midend.conv3: -0.60..0.47 (all 15 below 0.5)
    # (those ranges predate resetting a randomized layer's batch norm; since then, seed 0 after
    # midend.conv3 reads country 0.24, female vocalists 0.25, pop -0.08, from the full 7-step run)
    # Asserted for seed 0 (the check's default): the baseline above 0.8 (the 0.9 does not
    # hold for pop at this sample count) and every label below 0.5 after three random layers.
    folder = musicnn_folder("MSD_musicnn")
    from stemlime_musicnn.tagger import MusicnnTagger

    tagger = MusicnnTagger("MSD_musicnn", device="cpu", model_dir=folder)
    labels = ("country", "female vocalists", "pop")
    pipeline, explanation = explain(tagger, samples=200, segmenter="uniform,n=2", labels=labels)
    assert len(explanation.components) == 10
    result = explanation_sanity(pipeline, explanation, steps=3, seeds=2, draws=1)  # every measured draw collapsed at step 3
    assert [step["randomized"][-1] for step in result["steps"]] == ["output", "dense", "midend.conv3"]
    for label in labels:
        assert result["baseline"][label] > 0.8, "seed to seed, the trained model's explanations agree"
        last = result["steps"][-1]["spearman"][label]
        assert last is not None and last < 0.5, "with its top three layers random, the ranking collapses"
    assert result["all_passed"]


# ------------------------------------------------------------------------------ complexity


def test_complexity_is_the_normalized_entropy_of_the_absolute_weights():
    assert complexity([0.0, 0.7, 0.0, 0.0]) == 0.0
    assert complexity([0.2, -0.2, 0.2, -0.2]) == pytest.approx(1.0)
    weights = np.random.default_rng(1).normal(size=6)
    assert complexity(weights) == pytest.approx(entropy(np.abs(weights) / np.abs(weights).sum(), base=6))


def test_a_sparse_explanation_is_simpler_than_a_dense_one(presence_tagger):
    _, explanation = explain(presence_tagger)
    values = explanation_complexity(explanation)
    assert values["both"] < values["linear"]  # two stems matter for "both", three for "linear"


# ------------------------------------------------------------------------------ in the pipeline, the JSON and the CLI


def test_checks_land_in_the_explanation_and_are_reproducible(presence_tagger):
    pipeline, explanation = explain(presence_tagger, samples=200, checks="fidelity,stability,complexity")
    assert list(explanation.checks) == ["fidelity", "stability", "complexity"]
    saved = json.loads(explanation.to_json())["checks"]
    assert saved["stability"]["labels"]["linear"]["top1"] == 1.0
    again = explain(presence_tagger, samples=200, checks=["fidelity", "stability", "complexity"])[1]
    assert again.to_json() == explanation.to_json()
    assert run_checks(pipeline, explanation, "complexity") == {"complexity": explanation.checks["complexity"]}
    table = format_checks(explanation.checks)
    assert "deletion AOPC" in table and "Kendall tau" in table and "entropy" in table


def test_a_misspelt_check_fails_before_the_tagger_runs(presence_tagger):
    with pytest.raises(UsageError, match="did you mean 'stability'"):
        explain(presence_tagger, checks="stabilty")
    assert presence_tagger.calls == 0


@pytest.fixture
def loudness(tmp_path) -> list[str]:
    write_loudness_module(tmp_path)
    return [MIX, "--tagger", f"python,object=mymodel:tagger,path={tmp_path}", "--start", "1", "--duration", "3"]


def test_explain_prints_and_saves_the_requested_checks(cli, loudness, tmp_path):
    result = cli("explain", *loudness, "--samples", "300", "--checks", "fidelity,stability,complexity", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "deletion AOPC (random order)" in result.stdout and "top-1 agreement (5 seeds)" in result.stdout
    checks = json.loads((tmp_path / "out" / "explanation.json").read_text())["checks"]
    assert set(checks) == {"fidelity", "stability", "complexity"}
    assert set(checks["fidelity"]["labels"]["loud"]) == {"r2", "order", "deletion", "insertion", "beats_random"}


def test_a_pipeline_file_can_ask_for_checks(cli, loudness, tmp_path):
    folder = loudness[2].split("path=")[1]
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[tagger]\nname = "python"\nobject = "mymodel:tagger"\npath = "{folder}"\n\n[explain]\nsamples = 100\nchecks = ["complexity"]\n'
    )
    result = cli("explain", MIX, "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "entropy of |weights|" in result.stdout
    checks = json.loads((tmp_path / "out" / "explanation.json").read_text())["checks"]
    assert set(checks) == {"complexity"}
    flagged = cli("explain", MIX, "--config", str(config), "--checks", "fidelity", "--out", str(tmp_path / "flag"))
    assert flagged.returncode == 0, flagged.stderr
    assert set(json.loads((tmp_path / "flag" / "explanation.json").read_text())["checks"]) == {"fidelity"}, "the flag wins"


def test_check_stability_searches_the_samples_for_a_target(cli, loudness):
    result = cli("check", "stability", *loudness, "--target", "0.95", "--json")
    assert result.returncode == 0, result.stderr
    search = json.loads(result.stdout)["stability_search"]
    assert search["target"] == 0.95 and search["samples"] == search["steps"][-1]["samples"]
    assert search["steps"][-1]["kendall_tau"] >= 0.95


def test_check_sanity_explains_what_a_tagger_lacks(cli, loudness):
    result = cli("check", "sanity", *loudness)
    assert result.returncode == 2
    assert "randomization_layers" in result.stderr and "musicnn" in result.stderr and "Traceback" not in result.stderr
    unknown = cli("check", "sanity-ish", *loudness)
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


def test_the_readme_checks_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])
    namespace: dict = {}
    example = code_block_after("## 30-second example", "python").replace('"out/"', repr(str(tmp_path / "out")))
    exec(compile(example, "README", "exec"), namespace)
    exec(compile(code_block_after("## Checks", "python", readme=doc("how-to/configuring.md")), "README", "exec"), namespace)
    deletion = namespace["deletion"]
    assert deletion["aopc"] == pytest.approx(0.222, abs=1e-3) and deletion["random_aopc"] == pytest.approx(0.0897, abs=1e-3)
    assert set(namespace["explanation"].checks) == {"fidelity", "stability", "complexity"}


def test_asking_for_sanity_with_a_tagger_that_cannot_randomize_fails_before_the_tagger_runs(presence_tagger):
    with pytest.raises(UsageError, match="randomize itself"):
        explain(presence_tagger, checks="fidelity,sanity")
    assert presence_tagger.calls == 0
