"""Every rule the command line enforces holds in the Python API too: the CLI only parses."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import stemlime
from stemlime.cli import run_guarded
from stemlime.errors import UsageError

PIECE = Path(__file__).parent / "data" / "piece1_16k"


class Loudness:
    labels = ["loud"]
    sample_rate = 16000
    input_seconds = None

    def __init__(self):
        self.calls = 0

    def predict(self, batch):
        self.calls += 1
        return np.tanh(10 * np.sqrt((batch**2).mean(axis=1, keepdims=True)))


@pytest.fixture
def piece(tmp_path):
    folder = tmp_path / "piece"
    shutil.copytree(PIECE, folder)
    return folder


def _pipeline():
    tagger = Loudness()
    return stemlime.Pipeline(tagger=tagger, separator="oracle"), tagger


def test_the_oracle_folder_of_true_stems_is_never_an_output_even_with_force(piece):
    pipeline, tagger = _pipeline()
    before = sorted(p.name for p in piece.iterdir())
    with pytest.raises(UsageError, match="input"):
        pipeline.explain(piece / "mixture.wav", duration=2.0, samples=8, out=piece, force=True)
    assert sorted(p.name for p in piece.iterdir()) == before and tagger.calls == 0


def test_top_k_below_one_is_refused_before_any_work(piece, tmp_path):
    pipeline, tagger = _pipeline()
    with pytest.raises(UsageError, match="top_k must be a whole number of at least 1"):
        pipeline.explain(piece / "mixture.wav", duration=2.0, samples=8, out=tmp_path / "out", top_k=0)
    assert tagger.calls == 0 and not (tmp_path / "out").exists()
    explanation = pipeline.explain(piece / "mixture.wav", duration=2.0, samples=8, seed=0)
    with pytest.raises(UsageError, match="at least 1"):
        explanation.save(tmp_path / "out", k=0)
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_a_file_is_refused_before_the_tagger_runs(piece, tmp_path):
    pipeline, tagger = _pipeline()
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    with pytest.raises(UsageError, match="taken.txt"):
        pipeline.explain(piece / "mixture.wav", duration=2.0, samples=8, out=taken)
    with pytest.raises(UsageError, match="taken.txt"):
        stemlime.scan(pipeline, piece / "mixture.wav", snippets=1, samples=8, out=taken)
    assert tagger.calls == 0 and taken.read_text() == "mine"


def test_an_explanation_has_the_summary_the_cli_prints(piece):
    pipeline, _ = _pipeline()
    explanation = pipeline.explain(piece / "mixture.wav", duration=2.0, samples="exhaustive", seed=0)
    summary = explanation.summary()
    top = explanation.top("loud", 1)[0][0]
    assert "loud" in summary and top in summary and "R^2" in summary


def test_running_a_command_puts_the_callers_warning_display_back():
    shown = warnings.showwarning

    def warn():
        warnings.warn("careful")

    assert run_guarded(warn) == 0
    assert warnings.showwarning is shown
