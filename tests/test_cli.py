"""The command line is a contract: files, JSON keys, exit codes and messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import PIECE, STEMS
from readme import code_block_after, run_commands, doc

LOUDNESS = """
import numpy as np

class Loudness:
    labels = ["loud", "quiet/soft"]
    sample_rate = 16000
    input_seconds = None

    def predict(self, batch):
        loud = np.tanh(10 * np.sqrt((batch ** 2).mean(axis=1)))
        return np.stack([loud, 1 - loud], axis=1)

tagger = Loudness()
"""


@pytest.fixture
def model_dir(tmp_path) -> Path:
    (tmp_path / "mymodel.py").write_text(LOUDNESS)
    return tmp_path


def test_explain_writes_the_documented_files(cli, model_dir, tmp_path):
    out = tmp_path / "out"
    result = cli(
        "explain",
        str(PIECE / "mixture.wav"),
        "--tagger",
        f"python,object=mymodel:tagger,path={model_dir}",
        "--start",
        "1",
        "--duration",
        "3",
        "--samples",
        "1000",
        "--seed",
        "0",
        "--label",
        "quiet/soft",
        "--label",
        "loud",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "explanation.json").read_text())
    assert {
        "audio",
        "start",
        "duration",
        "sample_rate",
        "pipeline",
        "samples",
        "distinct_evaluations",
        "components",
        "prediction",
        "labels",
    } <= set(data)
    assert data["start"] == 1.0 and data["duration"] == 3.0 and data["sample_rate"] == 16000
    assert data["pipeline"] == {
        "tagger": f"python,object=mymodel:tagger,path={model_dir}",
        "separator": "oracle",
        "segmenter": "whole",
        "surrogate": "ridge",
    }
    assert data["samples"] == 1000 and data["distinct_evaluations"] == 32
    assert [c["name"] for c in data["components"]] == list(STEMS)
    assert set(data["components"][0]) == {"name", "stem", "segment", "start", "end"}
    assert list(data["labels"]) == ["quiet/soft", "loud"] and set(data["prediction"]) == {"quiet/soft", "loud"}
    label = data["labels"]["loud"]
    assert {"weights", "intercept", "score", "local_prediction"} <= set(label)
    weights = list(label["weights"].values())
    assert weights == sorted(weights, reverse=True)
    assert sorted(p.name for p in (out / "components").iterdir()) == [f"{s}.wav" for s in STEMS]
    assert sorted(p.name for p in (out / "explanations").iterdir()) == ["loud.wav", "quiet_soft.wav"]
    top = max(label["weights"], key=label["weights"].get)
    heard, rate = soundfile.read(out / "explanations" / "loud.wav", dtype="float32")
    component, _ = soundfile.read(out / "components" / f"{top}.wav", dtype="float32")
    assert rate == 16000 and np.array_equal(heard, component)
    assert "loud: probability" in result.stdout


def test_explain_from_a_pipeline_file_with_flags_overriding_it(cli, model_dir, tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'separator = "oracle"\n\n[tagger]\nname = "python"\nobject = "mymodel:tagger"\npath = "{model_dir}"\n\n'
        '[explain]\nsamples = "exhaustive"\nstart = 1.0\nduration = 3.0\ntop_labels = 1\n'
    )
    out = tmp_path / "out"
    result = cli("explain", str(PIECE / "mixture.wav"), "--config", str(config), "--duration", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "explanation.json").read_text())
    assert data["samples"] == "exhaustive" and data["duration"] == 2.0 and len(data["labels"]) == 1


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["explain", "X", "--tagger", "musicn", "--out", "o"], 2, "unknown tagger 'musicn'"),
        (["explain", "X", "--out", "o"], 2, "explain needs --tagger"),
        (["explain", "X", "--tagger", "python,object=nomodule:x", "--out", "o"], 2, "cannot import module 'nomodule'"),
        (["explain", "X", "--tagger", "python", "--samples", "many", "--out", "o"], 2, "expected a positive count, 'exhaustive' or 'auto'"),
        (["explain", "missing.wav", "--tagger", "python,object=mymodel:tagger", "--out", "o"], 1, "missing.wav does not exist"),
        (["explain", "{piece}", "--tagger", "python,object=mymodel:tagger", "--label", "lod", "--out", "o"], 2, "Did you mean 'loud'"),
        (["explain", "{piece}", "--tagger", "python,object=mymodel:tagger", "--start", "9", "--out", "o"], 2, "past the end of"),
        (
            ["explain", "{piece}", "--tagger", "python,object=mymodel:tagger", "--config", "nope.toml", "--out", "o"],
            2,
            "nope.toml does not exist",
        ),
        (["models", "path", "nonexistent"], 2, "unknown model 'nonexistent'"),
        (["bogus"], 2, "'stemlime bogus' is not a command"),
    ],
)
def test_mistakes_give_one_clear_message_and_the_documented_status(cli, model_dir, args, code, message):
    args = [a.replace("{piece}", str(PIECE / "mixture.wav")) for a in args]
    args = [a + f",path={model_dir}" if a.startswith("python,object=mymodel") else a for a in args]
    result = cli(*args, cwd=model_dir)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_audio_says_what_was_expected(cli, model_dir):
    (model_dir / "notes.wav").write_text("these are not samples")
    result = cli("explain", str(model_dir / "notes.wav"), "--tagger", f"python,object=mymodel:tagger,path={model_dir}", "--out", "o")
    assert result.returncode == 1
    assert "cannot read" in result.stderr and "Supported: WAV, FLAC" in result.stderr


def test_nan_samples_are_refused(cli, model_dir):
    audio = np.zeros(16000, np.float32)
    audio[100] = np.nan
    soundfile.write(model_dir / "nan.wav", audio, 16000, subtype="FLOAT")
    result = cli(
        "explain",
        str(model_dir / "nan.wav"),
        "--tagger",
        f"python,object=mymodel:tagger,path={model_dir}",
        "--separator",
        "none",
        "--out",
        "o",
    )
    assert result.returncode == 1 and "NaN or infinite" in result.stderr and "first at sample 100" in result.stderr


def test_separate_writes_one_file_per_stem(cli, tmp_path):
    result = cli("separate", str(PIECE / "mixture.wav"), "--separator", "oracle", "--start", "1", "--duration", "1", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == [f"{s}.wav" for s in STEMS]
    assert json.loads((tmp_path / "stems.json").read_text())["sample_rate"] == 16000
    vocals, rate = soundfile.read(tmp_path / "vocals.wav", dtype="float32")
    original, _ = soundfile.read(PIECE / "vocals.wav", dtype="float32")
    assert rate == 16000 and np.array_equal(vocals, original[16000:32000])


def test_plugins_lists_every_kind(cli):
    result = cli("plugins", "--json")
    data = json.loads(result.stdout)
    assert set(data) == {"separators", "segmenters", "taggers", "surrogates", "commands"}
    assert any(c["name"] == "render" and c["package"] == "stemlime-render" for c in data["commands"])
    text = cli("plugins").stdout
    assert "oracle  (stemlime)" in text and "alpha=<float, default 1.0>" in text
    assert "stemlime render  (stemlime-render)" in text


def test_tag_prints_json_and_plots(cli, model_dir, tmp_path):
    result = cli(
        "tag",
        str(PIECE / "mixture.wav"),
        "--tagger",
        f"python,object=mymodel:tagger,path={model_dir}",
        "--json",
        "--plot",
        str(tmp_path / "taggram.png"),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"tagger", "labels", "hop_seconds", "taggram", "mean"}
    assert data["labels"] == ["loud", "quiet/soft"] and len(data["taggram"]) == 1
    assert (tmp_path / "taggram.png").stat().st_size > 1000


def test_the_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])
    code = code_block_after("## 30-second example", "python").replace('"out/"', repr(str(tmp_path / "out")))
    namespace: dict = {}
    exec(compile(code, "README", "exec"), namespace)
    weights = namespace["explanation"].weights("loud")
    assert list(weights)[:2] == ["bass", "vocals"]
    assert (tmp_path / "out" / "explanations" / "loud.wav").is_file()


def _readme_model_folder(tmp_path: Path) -> Path:
    """A folder as the README's reader has it: mymodel.py from the README, a song with its stems."""
    (tmp_path / "mymodel.py").write_text(code_block_after("## 30-second example", "python", nth=1))
    shutil.copytree(PIECE, tmp_path / "song")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    shutil.copytree(PIECE, tmp_path / "tests" / "data" / "piece1_16k")
    return tmp_path


def test_the_readme_command_line_example_runs_with_the_readmes_mymodel(tmp_path):
    folder = _readme_model_folder(tmp_path)
    run_commands(code_block_after("## 30-second example", "bash"), folder)
    data = json.loads((folder / "out" / "explanation.json").read_text())
    assert list(data["labels"]) == ["loud"] and data["outputs"] == "probabilities"
    assert set(data["files"]["components"]) == set(STEMS)


def test_the_readme_pipeline_file_runs_with_the_readmes_one_label_tagger(tmp_path):
    folder = _readme_model_folder(tmp_path)
    (folder / "pipeline.toml").write_text(code_block_after("## Configuring pipelines", "toml", readme=doc("how-to/configuring.md")))
    run_commands(code_block_after("## Configuring pipelines", "bash", readme=doc("how-to/configuring.md")), folder)
    data = json.loads((folder / "out" / "explanation.json").read_text())
    assert data["samples"] == 1000 and list(data["labels"]) == ["loud"] and "fidelity" in data["checks"]


def test_a_mistyped_command_is_a_usage_error_that_suggests_the_command_and_lists_them(capsys):
    from stemlime.cli import main

    assert main(["--debug", "explian", "song.wav"]) == 2
    message = capsys.readouterr().err
    assert "'stemlime explian' is not a command" in message and "did you mean 'stemlime explain'?" in message
    assert "stemlime plugins" in message and "explain-dataset" in message


def test_the_core_names_no_plugin_command():
    # commands come from plugin packages through the stemlime_commands hook; the core's CLI
    # knows none of their names (a missing one is answered like any unknown command)
    import stemlime.cli

    source = Path(stemlime.cli.__file__).read_text()
    for plugin_command in ("render", "render-dataset", "train"):
        assert f'"{plugin_command}"' not in source
