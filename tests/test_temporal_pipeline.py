"""Temporal segments in whole explanations: stems x segments on piece1_16k, the pipeline-file
switch between separation and segmentation, the command line's per-stem summary, and the
README's musicnn example."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import PIECE, STEMS, read_stems, stemlime_cli, write_loudness_module
from model_support import musicnn_folder
from readme import code_block_after, doc
from stemlime import Pipeline, UsageError
from stemlime.config import read_config

SPANS = ["0.00-0.75s", "0.75-1.50s", "1.50-2.25s", "2.25-3.00s"]


class SpanEnergyTagger:
    """Responds only to the energy between ``first`` and ``last`` seconds of its input."""

    labels = ["energy in span"]
    sample_rate = 16000
    input_seconds = None

    def __init__(self, first: float, last: float):
        self.span = slice(int(first * self.sample_rate), int(last * self.sample_rate))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.sqrt((batch[:, self.span].astype(np.float64) ** 2).mean(axis=1, keepdims=True))


def explain(tagger, separator: str, segmenter: str, **options):
    pipeline = Pipeline(tagger=tagger, separator=separator, segmenter=segmenter)
    return pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, progress=False, **options)


def test_uniform_4_by_oracle_gives_20_components_named_stem_at_span():
    explanation = explain(SpanEnergyTagger(1.7, 2.1), "oracle", "uniform,n=4", samples=50)
    assert [c.name for c in explanation.components] == [f"{stem}@{span}" for stem in STEMS for span in SPANS]
    data = json.loads(explanation.to_json())
    first = data["components"][1]
    assert first == {"name": "bass@0.75-1.50s", "stem": "bass", "segment": "0.75-1.50s", "start": 0.75, "end": 1.5}
    np.testing.assert_allclose(explanation.component_audio.astype(np.float64).sum(axis=0), read_stems().sum(axis=0), atol=1e-6)


@pytest.mark.parametrize("separator", ["oracle", "none"])
def test_a_tagger_that_hears_one_time_span_is_explained_by_the_segment_covering_it(separator):
    explanation = explain(SpanEnergyTagger(1.7, 2.1), separator, "uniform,n=4", samples=1000, seed=0)
    weights = explanation.weights("energy in span")
    top_name, top_weight = explanation.top("energy in span", 1)[0]
    assert top_name.endswith("@1.50-2.25s")
    assert top_weight > 0
    by_name = {c.name: c for c in explanation.components}
    outside = [w for name, w in weights.items() if by_name[name].segment != "1.50-2.25s"]
    assert max(abs(w) for w in outside) < 0.1 * top_weight  # other spans are (sampling) noise


def test_tf_grid_components_carry_their_band_into_the_json():
    explanation = explain(SpanEnergyTagger(0.0, 3.0), "none", "tf_grid,n_time=2,n_freq=2", samples=20)
    data = json.loads(explanation.to_json())
    assert [c["name"] for c in data["components"]] == [
        "mix@0.00-1.50s_0-4000Hz",
        "mix@0.00-1.50s_4000-8000Hz",
        "mix@1.50-3.00s_0-4000Hz",
        "mix@1.50-3.00s_4000-8000Hz",
    ]
    assert data["components"][1]["band"] == [4000.0, 8000.0] and data["components"][1]["start"] == 0.0


def write_pipeline(tmp_path, text: str):
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


def test_components_line_names_separator_and_segmenter_in_one(tmp_path):
    config = read_config(write_pipeline(tmp_path, 'components = "none x uniform,n=3"\ntagger = "musicnn"\n'))
    assert config["separator"] == "none" and config["segmenter"] == "uniform,n=3"
    config = read_config(write_pipeline(tmp_path, 'components = "spleeter:2stems  x  bars,beats_per_bar=3"\n'))
    assert config["separator"] == "spleeter:2stems" and config["segmenter"] == "bars,beats_per_bar=3"


@pytest.mark.parametrize(
    "text, message",
    [
        ('components = "oracle x whole"\nseparator = "none"\n', r"gives both components = 'oracle x whole' and separator.*keep one"),
        ('components = "oracle x whole"\n[segmenter]\nname = "bars"\n', "gives both .* and segmenter"),
        ('components = "oracle"\n', r"components = 'oracle' should read \"SEPARATOR x SEGMENTER\""),
        ('components = "oracle x whole x bars"\n', "should read"),
    ],
)
def test_components_line_mistakes_get_one_clear_message(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        read_config(write_pipeline(tmp_path, text))


def test_cli_summary_shows_each_stems_weights_over_time(tmp_path):
    write_loudness_module(tmp_path)
    result = stemlime_cli(
        "explain",
        str(PIECE / "mixture.wav"),
        "--tagger",
        "python,object=mymodel:tagger,path=.",
        "--segmenter",
        "uniform,n=4",
        "--start",
        "1",
        "--duration",
        "3",
        "--samples",
        "300",
        "--no-progress",
        "--out",
        "out",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("weight by segment"))
    assert lines[header].split()[3:] == SPANS
    rows = [line.split() for line in lines[header + 1 : header + 1 + len(STEMS)]]
    assert [row[0] for row in rows] == list(STEMS)
    weights = json.loads((tmp_path / "out" / "explanation.json").read_text())["labels"]["loud"]["weights"]
    for row in rows:
        assert [float(cell) for cell in row[1:]] == [pytest.approx(weights[f"{row[0]}@{span}"], abs=5e-5) for span in SPANS]
    assert lines[header + 1 + len(STEMS)].strip().startswith("top: ")


def test_cli_summary_of_many_segments_runs_time_down_the_page(tmp_path):
    write_loudness_module(tmp_path)
    result = stemlime_cli(
        "explain",
        str(PIECE / "mixture.wav"),
        "--tagger",
        "python,object=mymodel:tagger,path=.",
        "--segmenter",
        "uniform,n=12",
        "--start",
        "1",
        "--duration",
        "3",
        "--samples",
        "200",
        "--no-progress",
        "--out",
        "out",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("segment "))
    assert lines[header].split()[1:] == list(STEMS)
    rows = [line.split() for line in lines[header + 1 : header + 13]]
    assert [row[0] for row in rows] == [f"{i * 0.25:.2f}-{(i + 1) * 0.25:.2f}s" for i in range(12)]
    weights = json.loads((tmp_path / "out" / "explanation.json").read_text())["labels"]["loud"]["weights"]
    for row in rows:
        assert [float(cell) for cell in row[1:]] == [pytest.approx(weights[f"{stem}@{row[0]}"], abs=5e-5) for stem in STEMS]
    assert max(len(line) for line in lines[header : header + 13]) < 80, "the table stays narrow"


def test_cli_says_when_a_segmenter_falls_back_to_one_segment(tmp_path):
    write_loudness_module(tmp_path)
    silence = tmp_path / "silence.wav"
    import soundfile

    soundfile.write(silence, np.zeros(48000, np.float32), 16000)
    result = stemlime_cli(
        "explain",
        str(silence),
        "--tagger",
        "python,object=mymodel:tagger,path=.",
        "--separator",
        "none",
        "--segmenter",
        "onsets",
        "--samples",
        "10",
        "--no-progress",
        "--out",
        "out",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "stemlime: warning: onsets: no note onsets were detected in the 3.00-s excerpt; using one segment" in result.stderr
    assert "1 components" in result.stdout


def test_cli_bad_boundaries_exit_2_with_the_reason(tmp_path):
    write_loudness_module(tmp_path)
    result = stemlime_cli(
        "explain",
        str(PIECE / "mixture.wav"),
        "--tagger",
        "python,object=mymodel:tagger,path=.",
        "--segmenter",
        "manual,boundaries=0.5;3.2",
        "--start",
        "1",
        "--duration",
        "3",
        "--out",
        "out",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "stemlime: error: manual: boundary 3.2 s is outside the 3.000-s excerpt; boundaries are seconds from the start "
        "of the excerpt (not of the file), between 0 and 3.000"
    )


def test_readme_pipeline_file_switches_segments_of_the_mix_and_true_stems_in_one_line(tmp_path):
    musicnn_folder("MSD_musicnn")
    text = code_block_after("### temporal", "toml", readme=doc("how-to/plugins.md"))
    lines = text.splitlines()
    assert lines[0].startswith('components = "none x uniform,n=3"') and lines[1].startswith('# components = "oracle x whole"')
    switched = "\n".join([lines[1].lstrip("# ").split("#")[0].strip()] + lines[2:]) + "\n"
    assert len(set(text.splitlines()) ^ set(switched.splitlines())) == 3  # one line replaced, the comment gone
    results = {}
    for name, config in (("segments", text), ("stems", switched)):
        pipeline = Pipeline.from_config(write_pipeline(tmp_path, config))
        results[name] = pipeline.explain(PIECE / "mixture.wav", progress=False, **pipeline.explain_defaults)
    segments, stems = results["segments"], results["stems"]
    assert [c.name for c in segments.components] == ["mix@0.00-1.00s", "mix@1.00-2.00s", "mix@2.00-3.00s"]
    assert [c.name for c in stems.components] == list(STEMS)
    assert segments.distinct_evaluations == 8 and stems.distinct_evaluations == 32  # exhaustive
    # both all-ones masks are the same excerpt, so the tagger says the same about it
    assert list(segments.labels) == list(stems.labels)
    for label in segments.labels:
        assert segments.labels[label].prediction == pytest.approx(stems.labels[label].prediction, abs=1e-5)
