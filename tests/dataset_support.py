"""Test data for explain-dataset: rendered tracks (stemlime-render, 16 kHz, a few seconds) plus a
broken one, taggers written as modules (so that Ray workers import them as users' models are
imported), and the global explanation recomputed independently from the tracks' results."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from scipy.stats import entropy

TRACK_SETS = ("piano,bass,drums", "guitar,bass")  # no sung vocals: espeak-ng takes seconds per piece
SECONDS = 3.0
RATE = 16000
BROKEN = "broken"


def tagger_module(predict: str, labels: Sequence[str] = ("loud",), imports: str = "", input_seconds: float | None = None) -> str:
    """The text of a tagger module: a class with ``labels`` at 16 kHz taking any length (or
    ``input_seconds`` windows: its taggram has a frame per window), whose ``predict(batch)`` has
    the body ``predict``, and its instance ``tagger``."""
    body = textwrap.indent(textwrap.dedent(predict).strip(), " " * 8)
    return (
        f"import numpy as np\n{imports}\n\nclass Tagger:\n    labels = {list(labels)!r}\n    sample_rate = 16000\n"
        f"    input_seconds = {input_seconds!r}\n\n    def predict(self, batch):\n{body}\n\ntagger = Tagger()\n"
    )


# Two labels that hear different things: how loud, and how much of the energy is above 1 kHz.
LOUD_BRIGHT_BODY = """
    loud = np.tanh(10 * np.sqrt((batch ** 2).mean(axis=1)))
    power = np.abs(np.fft.rfft(batch, axis=1)) ** 2
    cut = power.shape[1] * 1000 // 8000
    bright = power[:, cut:].sum(axis=1) / (power.sum(axis=1) + 1e-9)
    return np.stack([loud, bright], axis=1)
"""
LOUD_BRIGHT = tagger_module(LOUD_BRIGHT_BODY, labels=("loud", "bright"))
# The same two labels on 1-s inputs: a 3-s track's taggram has three frames to choose snippets from.
WINDOW_SECONDS = 1.0
LOUD_BRIGHT_WINDOWED = tagger_module(LOUD_BRIGHT_BODY, labels=("loud", "bright"), input_seconds=WINDOW_SECONDS)


def render_tracks(folder: Path, count: int = 4, broken: bool = True) -> Path:
    """``count`` rendered tracks ``song-<i>/`` (mixture.wav + stems) and, with ``broken``, a track
    ``broken/`` whose mixture.wav is not audio."""
    render = pytest.importorskip("stemlime_render", reason="stemlime-render is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        render.render_song(index, SECONDS, TRACK_SETS[index % len(TRACK_SETS)], RATE).save(folder / f"song-{index}")
    if broken:
        (folder / BROKEN).mkdir()
        (folder / BROKEN / "mixture.wav").write_text("this is not audio\n")
    return folder


def write_module(folder: Path, name: str, text: str = LOUD_BRIGHT) -> str:
    """Write ``<name>.py`` into ``folder``; the python tagger spec that loads its ``tagger``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(text)
    return f"python,object={name}:tagger,path={folder}"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Four rendered 3-s tracks at 16 kHz (two instrument sets) and a broken one, per test module."""
    return render_tracks(tmp_path_factory.mktemp("dataset") / "data")


@pytest.fixture(scope="module")
def tagger_spec(tmp_path_factory) -> str:
    """The spec of the two-label tagger LOUD_BRIGHT, as a module of its own per test module."""
    folder = tmp_path_factory.mktemp("models")
    return write_module(folder, f"ds_loud_bright_{folder.name}")  # models0, models1, ...: one module name per folder


@pytest.fixture(scope="module")
def windowed_spec(tmp_path_factory) -> str:
    """The spec of LOUD_BRIGHT_WINDOWED (1-s inputs), as a module of its own per test module."""
    folder = tmp_path_factory.mktemp("models")
    return write_module(folder, f"ds_windowed_{folder.name}", LOUD_BRIGHT_WINDOWED)


def snippet_results(out: Path) -> list[dict]:
    """Every snippet's explanation.json under OUT/tracks/<track>/snippets/, by track and rank."""
    return [json.loads(path.read_text()) for path in sorted((out / "tracks").glob("*/snippets/*/explanation.json"))]


def track_results(out: Path) -> dict[str, dict]:
    """Every track's explanation.json under OUT/tracks, by track name."""
    results = {}
    for path in sorted((out / "tracks").glob("*/explanation.json")):
        result = json.loads(path.read_text())
        results[result["dataset"]["track"]] = result
    return results


def recompute_global(results: list[dict]) -> dict:
    """The global explanation from the tracks' results, computed independently of stemlime's
    code: an explanations x stems matrix of summed weights per label (NaN where a stem has none),
    numpy reductions, and scipy's entropy for the homogeneity weighting. Each result is one
    explanation; ``tracks`` counts the distinct tracks they name (a track's snippets name it)."""
    stems = sorted({c["stem"] for r in results for c in r["components"]})
    labels = sorted({label for r in results for label in r["labels"]})
    matrices, tracks = {}, {}
    for label in labels:
        rows = []
        explaining = [r for r in results if label in r["labels"]]
        tracks[label] = len({r["dataset"]["track"] for r in explaining})
        for result in explaining:
            stem_of = {c["name"]: c["stem"] for c in result["components"]}
            row = np.full(len(stems), np.nan)
            for component, weight in result["labels"][label]["weights"].items():
                j = stems.index(stem_of[component])
                row[j] = weight if np.isnan(row[j]) else row[j] + weight
            rows.append(row)
        matrices[label] = np.array(rows)
    importance = np.array([np.sqrt(np.nansum(np.abs(matrices[label]), axis=0)) for label in labels])  # labels x stems
    spread = np.array([entropy(column) for column in importance.T])  # scipy normalizes each column to shares
    low, high = spread.min(), spread.max()
    factor = np.ones_like(spread) if np.isclose(high, low, rtol=0, atol=1e-12) else 1 - (spread - low) / (high - low)
    expected = {}
    for i, label in enumerate(labels):
        matrix = matrices[label]
        positive = np.where(np.nan_to_num(matrix, nan=-np.inf) > 0, matrix, -np.inf)
        tops = [stems[int(np.argmax(row))] if np.isfinite(row).any() else None for row in positive]
        for j, stem in enumerate(stems):
            column = matrix[:, j][~np.isnan(matrix[:, j])]
            if column.size:
                expected[label, stem] = {
                    "n": column.size,
                    "mean_weight": column.mean(),
                    "mean_abs_weight": np.abs(column).mean(),
                    "top1_share": tops.count(stem) / len(matrix),
                    "importance": importance[i, j],
                    "homogeneity_importance": factor[j] * importance[i, j],
                    "tracks": tracks[label],
                    "explanations": len(matrix),
                }
    return expected


def assert_global_matches(global_explanation: dict, results: list[dict]) -> None:
    """global.json's numbers equal the independent recomputation, label by label and stem by stem."""
    expected = recompute_global(results)
    found = {
        (label, stem): metrics | {"tracks": entry["tracks"], "explanations": entry["explanations"]}
        for label, entry in global_explanation["labels"].items()
        for stem, metrics in entry["components"].items()
    }
    assert found.keys() == expected.keys()
    for key, metrics in expected.items():
        for metric, value in metrics.items():
            assert found[key][metric] == pytest.approx(value, rel=1e-12, abs=1e-15), (key, metric)
    assert global_explanation["explanations"] == len(results)
    assert global_explanation["tracks"] == len({r["dataset"]["track"] for r in results})
