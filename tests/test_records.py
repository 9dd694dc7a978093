"""Results are typed records with one strict JSON encoder and a schema version; files written by
earlier stemlime releases still read."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from stemlime.records import ExplanationRecord, LabelExplanation, json_text, read_explanation, write_explanation

DATA = Path(__file__).parent / "data"


def test_an_explanation_json_of_schema_1_reads_with_todays_reader():
    # written by stemlime at ea8a8e1 (before schema 2): no "schema" key, no label indices
    record = read_explanation(DATA / "schema1")
    assert set(record.labels) == {"loud", "bright"}
    assert record.labels["loud"].weights["bass"] == pytest.approx(0.17027528006850695, abs=0)
    assert record.labels["bright"].prediction == pytest.approx(0.8741292953491211, abs=0)
    assert record.labels["loud"].index is None  # schema 1 did not say which output a label is
    assert [c.name for c in record.components] == ["bass", "drums", "guitar", "piano", "vocals"]
    assert record.samples == 64 and record.seed == 0 and record.sample_rate == 16000
    assert record.checks["fidelity"]["labels"]["loud"]["beats_random"] is True
    assert record.files.explanations["loud"].endswith(".wav")


def test_a_record_read_from_schema_1_writes_as_schema_2_and_reads_back_equal(tmp_path):
    old = read_explanation(DATA / "schema1")
    write_explanation(tmp_path, old)
    written = json.loads((tmp_path / "explanation.json").read_text())
    assert written["schema"] == 2
    assert read_explanation(tmp_path).to_json() == old.to_json()  # labels compare by value (NaN is not equal to itself)


def test_a_file_of_a_newer_schema_is_refused_with_the_version_to_install(tmp_path):
    data = json.loads((DATA / "schema1" / "explanation.json").read_text()) | {"schema": 99}
    (tmp_path / "explanation.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="schema 99"):
        read_explanation(tmp_path)


def test_a_nan_score_is_written_as_null_never_as_the_non_json_token_nan(tmp_path):
    old = read_explanation(DATA / "schema1")
    label = old.labels["loud"]
    broken = LabelExplanation(
        label="loud",
        index=0,
        prediction=label.prediction,
        weights=label.weights,
        intercept=label.intercept,
        score=float("nan"),
        local_prediction=label.local_prediction,
    )
    record = _with_label(old, broken)
    write_explanation(tmp_path, record)
    text = (tmp_path / "explanation.json").read_text()
    assert "NaN" not in text
    data = json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON token {token}"))
    assert data["labels"]["loud"]["score"] is None
    assert math.isnan(read_explanation(tmp_path).labels["loud"].score or math.nan)


def test_the_encoder_refuses_what_json_cannot_hold():
    assert json_text({"x": np.float32(0.5), "n": np.int64(3), "a": np.arange(2)}, indent=None) == '{"x": 0.5, "n": 3, "a": [0, 1]}\n'
    with pytest.raises(TypeError):
        json_text({"x": object()})


def _with_label(record: ExplanationRecord, label: LabelExplanation) -> ExplanationRecord:
    import attrs

    return attrs.evolve(record, labels={label.label: label})
