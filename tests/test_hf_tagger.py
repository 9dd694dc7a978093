"""The ``hf`` tagger (stemlime-hf) gives what ``transformers.pipeline("audio-classification")``
gives, for small AST and wav2vec2 classifiers with random weights built here and saved with
``save_pretrained`` (no model hub is reachable: local folders work offline).

The song is piece1's mixture written at 22.05 kHz, so stemlime resamples it to the models'
16 kHz; the reference pipeline gets the very audio the tagger heard.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import PIECE, stemlime_cli

pytestmark = pytest.mark.skipif(importlib.util.find_spec("stemlime_hf") is None, reason="stemlime-hf is not installed")

FILE_RATE = 22050


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a local folder must never need the network


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    from tiny_models import ast_classifier, wav2vec2_base, wav2vec2_classifier

    root = tmp_path_factory.mktemp("hf-models")
    return {
        "ast": ast_classifier(root / "ast"),
        "wav2vec2": wav2vec2_classifier(root / "wav2vec2"),
        "base": wav2vec2_base(root / "wav2vec2-base"),
    }


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    from stemlime.audio import load_audio, write_wav

    audio, _ = load_audio(PIECE / "mixture.wav", sample_rate=FILE_RATE)
    return write_wav(tmp_path_factory.mktemp("song") / "song.wav", audio, FILE_RATE)


def reference(folder: Path, audio: np.ndarray, labels: list[str], function: str) -> np.ndarray:
    """transformers' own audio-classification pipeline on one mono input, in stemlime's label order."""
    from transformers import pipeline

    classify = pipeline("audio-classification", model=str(folder), top_k=None, device="cpu")
    scores = {item["label"]: item["score"] for item in classify(audio, function_to_apply=function)}
    return np.array([scores[label] for label in labels])


def heard_mix(tagger_spec: str, song: Path, start: float, duration: float):
    """Explain with the mix as the only component: the tagger's output on the whole mix, and that mix."""
    import stemlime

    explanation = stemlime.Pipeline(tagger=tagger_spec, separator="none").explain(
        song, start=start, duration=duration, samples="exhaustive", labels=[0]
    )
    return explanation.neighbourhood.predictions[0], explanation.component_audio[0], explanation


def test_a_multi_label_ast_gives_the_pipelines_sigmoid_probabilities(models, song):
    predicted, mix, explanation = heard_mix(f"hf,model={models['ast']}", song, start=0.5, duration=1.0)
    assert explanation.sample_rate == 16000 and explanation.output_kind == "probabilities"
    assert explanation.tagger_labels == ["drums", "guitar", "piano", "singing", "speech"]  # id2label, in id order
    expected = reference(models["ast"], mix, explanation.tagger_labels, "sigmoid")
    np.testing.assert_allclose(predicted, expected, rtol=0, atol=1e-5)
    assert not np.allclose(expected.sum(), 1.0, atol=1e-3)  # independent sigmoids, not a softmax


def test_a_single_label_wav2vec2_gives_the_pipelines_softmax_probabilities(models, song):
    predicted, mix, explanation = heard_mix(f"hf,model={models['wav2vec2']}", song, start=1.0, duration=2.0)
    expected = reference(models["wav2vec2"], mix, explanation.tagger_labels, "softmax")
    np.testing.assert_allclose(predicted, expected, rtol=0, atol=1e-5)
    assert predicted.sum() == pytest.approx(1.0, abs=1e-6)


def test_longer_audio_is_cut_into_the_models_windows_and_averaged(models, song):
    from stemlime import get_registry
    from stemlime.audio import load_audio

    tagger = get_registry().build("tagger", f"hf,model={models['ast']},batch_size=2")
    assert tagger.input_seconds == 1.0  # max_length=100 frames of 10 ms
    audio, _ = load_audio(song, sample_rate=16000, start=0.5, duration=3.5)
    windows = [audio[i * 16000 : (i + 1) * 16000] for i in range(3)]  # the last 0.5 s is dropped, as musicnn drops it
    expected = np.mean([reference(models["ast"], w, tagger.labels, "sigmoid") for w in windows], axis=0)
    np.testing.assert_allclose(tagger.predict(audio[None]), expected[None], rtol=0, atol=1e-5)
    batch = np.stack([audio, audio[::-1].copy()])
    np.testing.assert_array_equal(tagger.predict(batch), tagger.predict(batch))  # deterministic, bit for bit


def test_input_seconds_comes_from_the_feature_extractor():
    from transformers import ASTFeatureExtractor, Wav2Vec2FeatureExtractor

    from stemlime_hf.hf import model_input_seconds

    assert model_input_seconds(ASTFeatureExtractor()) == 10.24  # AST's 1024 frames of 10 ms
    assert model_input_seconds(Wav2Vec2FeatureExtractor()) is None  # any length


def test_output_overrides_the_pipelines_choice(models):
    from stemlime import get_registry

    tagger = get_registry().build("tagger", f"hf,model={models['ast']},output=none")
    assert tagger.outputs == "scores"
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    np.testing.assert_allclose(tagger.predict(audio[None])[0], reference(models["ast"], audio, tagger.labels, "none"), rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("stemlime_spleeter") is None, reason="stemlime-spleeter is not installed")
def test_the_readme_explains_a_song_with_a_hugging_face_folder_and_spleeter(tmp_path):
    from model_support import spleeter_folder
    from readme import code_block_after, run_commands, doc
    from tiny_models import ast_classifier

    spleeter_folder("2stems")
    shutil.copy(PIECE / "mixture.wav", tmp_path / "song.wav")
    ast_classifier(tmp_path / "my-ast")  # as model.save_pretrained("my-ast/") and its feature extractor's write it
    (result,) = run_commands(code_block_after("**A Hugging Face classifier.**", "bash", readme=doc("how-to/your-model.md")), tmp_path)
    saved = json.loads((tmp_path / "out" / "explanation.json").read_text())
    assert [c["name"] for c in saved["components"]] == ["vocals", "accompaniment"]
    assert saved["outputs"] == "probabilities" and saved["pipeline"]["tagger"].startswith("hf,model=my-ast")
    assert len(saved["labels"]) == 3  # the top 3 of the five labels, each with both stems' weights
    assert all(set(entry["weights"]) == {"vocals", "accompaniment"} for entry in saved["labels"].values())
    assert "vocals" in result.stdout


# ------------------------------------------------------------------------------------ bad input
# The command line maps UsageError to exit status 2 and every other StemlimeError to 1 (test_cli);
# one case runs as a user types it, the others through the Python API (cheaper: one import of transformers).


def build(spec: str):
    from stemlime import get_registry

    tagger = get_registry().build("tagger", spec)
    return tagger, tagger.predict(np.zeros((1, 16000), np.float32))  # the weights are read on the first call


@pytest.mark.slow
def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a model")
    result = stemlime_cli("tag", str(PIECE / "mixture.wav"), "--tagger", f"hf,model={folder}")
    assert result.returncode == 1
    assert "holds no Hugging Face model configuration (config.json)" in result.stderr
    assert "save_pretrained" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_folder_is_a_usage_error(tmp_path):
    from stemlime import UsageError

    with pytest.raises(UsageError, match="no such folder"):
        build(f"hf,model={tmp_path / 'nowhere' / 'model'}")


def test_an_audio_model_without_a_classification_head_is_refused(models, tmp_path):
    from stemlime import UsageError

    with pytest.raises(UsageError, match="holds a Wav2Vec2Model, not an audio classifier"):
        build(f"hf,model={models['base']}")

    # the same weights with no architecture in the config: caught when the head's weights are missing
    anonymous = shutil.copytree(models["base"], tmp_path / "anonymous")
    config = json.loads((anonymous / "config.json").read_text())
    config.pop("architectures")
    (anonymous / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="is not a trained audio classifier: its weights lack classifier.bias"):
        build(f"hf,model={anonymous}")


def test_a_model_transformers_cannot_classify_audio_with_is_refused(tmp_path):
    from transformers import BertConfig

    from stemlime import UsageError

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(tmp_path)
    with pytest.raises(UsageError, match="is a 'bert' model, which transformers has no audio-classification head for"):
        build(f"hf,model={tmp_path}")


def test_a_hub_name_offline_says_what_to_do(tmp_path, monkeypatch):
    from stemlime import ModelFilesError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelFilesError, match="Hugging Face hub .* or give a folder written by save_pretrained: model=FOLDER"):
        build("hf,model=MIT/ast-finetuned-audioset-10-10-0.4593")
