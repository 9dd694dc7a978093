"""explain-dataset in this process: every track of a folder explained, resumably, and the
explanations aggregated by stem into global explanations (stemlime.dataset).

The Ray engine has its own module (test_dataset_ray.py: one Ray cluster for all its tests)."""

from __future__ import annotations

import csv
import html
import json
import re
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

import stemlime
from stemlime import UsageError
from html.parser import HTMLParser
from stemlime.dataset import aggregate, find_tracks, read_metadata
from stemlime.records import ExplanationRecord
from stemlime.fs import MARKER, ResumableFolder

from conftest import stemlime_cli
from dataset_support import (
    BROKEN,
    LOUD_BRIGHT_WINDOWED,
    RATE,
    WINDOW_SECONDS,
    assert_global_matches,
    render_tracks,
    snippet_results,
    tagger_module,
    track_results,
    write_module,
)
from dataset_support import data, tagger_spec, windowed_spec  # noqa: F401 (fixtures)

GOOD = ["song-0", "song-1", "song-2", "song-3"]


def pipeline(spec: str, **settings) -> stemlime.Pipeline:
    return stemlime.Pipeline(tagger=spec, separator="oracle", **settings)


def snapshot(out: Path) -> dict[str, tuple[int, int]]:
    """Each track file's inode and modification time: what a rerun that redoes nothing keeps."""
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted((out / "tracks").rglob("*"))}


# ----------------------------------------------------------------------------- finding tracks


def _wav(path: Path, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(int(seconds * 16000), np.float32), 16000)  # WAV or FLAC by the suffix


def test_tracks_are_the_folders_with_a_mixture_named_by_folder(tmp_path):
    _wav(tmp_path / "musdb" / "train" / "A Song" / "mixture.wav")  # MUSDB18 decoded
    _wav(tmp_path / "musdb" / "train" / "A Song" / "vocals.wav")
    _wav(tmp_path / "musdb" / "Track00001" / "mix.flac")  # Slakh / BabySlakh
    _wav(tmp_path / "musdb" / "Track00001" / "stems" / "S00.flac")
    _wav(tmp_path / "musdb" / "loose.wav")  # not a track: mixture folders exist
    _wav(tmp_path / "musdb" / ".hidden" / "mixture.wav")
    tracks = find_tracks(tmp_path / "musdb")
    assert [(t.name, t.audio.name) for t in tracks] == [("Track00001", "mix.flac"), ("A Song", "mixture.wav")]


def test_without_mixture_folders_every_audio_file_is_a_track(tmp_path):
    _wav(tmp_path / "data" / "one.wav")
    _wav(tmp_path / "data" / "deeper" / "two.flac")
    (tmp_path / "data" / "notes.txt").write_text("not audio")
    assert [t.name for t in find_tracks(tmp_path / "data")] == ["two", "one"]


def test_tracks_sharing_a_name_are_named_by_their_path(tmp_path):
    _wav(tmp_path / "data" / "train" / "Song" / "mixture.wav")
    _wav(tmp_path / "data" / "test" / "Song" / "mixture.wav")
    _wav(tmp_path / "data" / "test" / "Other" / "mixture.wav")
    assert [t.name for t in find_tracks(tmp_path / "data")] == ["Other", "test/Song", "train/Song"]


def test_an_output_folder_inside_the_dataset_holds_no_tracks(data, tagger_spec, tmp_path):
    inner = tmp_path / "data"
    render_tracks(inner, count=1, broken=False)
    # explain-dataset refuses an output inside its data (test_reliability); an explanation saved there is no track
    pipeline(tagger_spec).explain(inner / "song-0" / "mixture.wav", samples=64, progress=False, out=inner / "explained")
    assert [t.name for t in find_tracks(inner)] == ["song-0"]


def test_a_dataset_that_is_not_a_folder_of_tracks_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        find_tracks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no tracks"):
        find_tracks(tmp_path / "empty")


# ----------------------------------------------------------------------------- a run, and the rerun


def test_every_good_track_is_explained_and_the_broken_one_recorded(data, tagger_spec, tmp_path):
    out = tmp_path / "out"
    result = stemlime.explain_dataset(pipeline(tagger_spec), data, out, top_labels=2, samples=200, seed=0, progress=False)
    assert result.explained == GOOD and result.failed == [BROKEN] and not result.ok
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert failures == [{"track": BROKEN, "error": "AudioError", "message": failures[0]["message"]}]
    assert "cannot read" in failures[0]["message"]
    assert json.loads((out / MARKER).read_text())["kind"] == "dataset"
    results = track_results(out)
    assert sorted(results) == GOOD
    for name, explained in results.items():  # each track's folder is what 'stemlime explain' writes
        assert explained["dataset"]["settings_hash"] == result.settings_hash
        assert explained["dataset"]["top_tags"][0][0] in ("loud", "bright")
        assert (out / "tracks" / name / "explanations" / "loud.wav").is_file()
        assert json.loads((out / "tracks" / name / MARKER).read_text())["kind"] == "explanation"
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] and run["tracks"] == {"total": 5, "explained": 4, "skipped": 0, "failed": 1, "not_run": 0, "replaced": 0}
    assert run["settings_hash"] == result.settings_hash and run["pipeline"]["separator"] == "oracle"
    assert run["results"] == {name: f"tracks/{name}" for name in GOOD}  # what a report reads
    assert run["workers"][0]["peak_rss_mb"] > 10


def test_global_numbers_equal_the_tracks_numbers_recomputed(data, tagger_spec, tmp_path):
    """Stems in two segments each: the global explanation sums each stem's segments per track."""
    pytest.importorskip("stemlime_temporal", reason="stemlime-temporal is not installed")
    out = tmp_path / "out"
    result = stemlime.explain_dataset(pipeline(tagger_spec, segmenter="uniform,n=2"), data, out, top_labels=2, samples=300, progress=False)
    results = list(track_results(out).values())
    assert any("@" in component["name"] for component in results[0]["components"])
    on_disk = json.loads((out / "global.json").read_text())
    assert on_disk["labels"].keys() == {"loud", "bright"} and on_disk == result.global_explanation.to_json()
    assert_global_matches(on_disk, results)
    factors = [m["homogeneity_importance"] / m["importance"] for e in on_disk["labels"].values() for m in e["components"].values()]
    assert min(factors) == pytest.approx(0) and max(factors) == pytest.approx(1)  # the stems' entropies differ
    with open(out / "global.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(len(e["components"]) for e in on_disk["labels"].values())
    first = rows[0]
    assert float(first["importance"]) == on_disk["labels"][first["label"]]["components"][first["stem"]]["importance"]
    assert (out / "global.png").read_bytes()[:4] == b"\x89PNG"


def test_a_rerun_explains_nothing_again_and_retries_the_failed_track(data, tagger_spec, tmp_path):
    out = tmp_path / "out"
    first = stemlime.explain_dataset(pipeline(tagger_spec), data, out, samples=100, progress=False)
    before = snapshot(out)
    again = stemlime.explain_dataset(pipeline(tagger_spec), data, out, samples=100, progress=False)
    assert again.explained == [] and again.skipped == GOOD and again.failed == [BROKEN]
    assert snapshot(out) == before and again.global_explanation == first.global_explanation
    assert json.loads((out / "run.json").read_text())["tracks"]["skipped"] == 4


def test_other_settings_explain_the_tracks_again(data, tagger_spec, tmp_path):
    out = tmp_path / "out"
    first = stemlime.explain_dataset(pipeline(tagger_spec), data, out, samples=100, progress=False)
    with pytest.warns(UserWarning, match="4 result.* other settings"):
        second = stemlime.explain_dataset(pipeline(tagger_spec), data, out, samples=100, seed=1, progress=False)
    assert second.settings_hash != first.settings_hash and second.explained == GOOD
    assert {r["dataset"]["settings_hash"] for r in track_results(out).values()} == {second.settings_hash}
    assert json.loads((out / "run.json").read_text())["tracks"]["replaced"] == 4


def test_a_repaired_track_is_explained_on_the_rerun(data, tagger_spec, tmp_path):
    copy = tmp_path / "data"
    render_tracks(copy, count=1)
    out = tmp_path / "out"
    assert stemlime.explain_dataset(pipeline(tagger_spec), copy, out, samples=64, progress=False).failed == [BROKEN]
    render_tracks(tmp_path / "fixed", count=1, broken=False)
    for path in (tmp_path / "fixed" / "song-0").iterdir():  # the mixture and its stems
        (copy / BROKEN / path.name).write_bytes(path.read_bytes())
    rerun = stemlime.explain_dataset(pipeline(tagger_spec), copy, out, samples=64, progress=False)
    assert rerun.explained == [BROKEN] and rerun.skipped == ["song-0"] and rerun.ok
    assert (out / "failures.jsonl").read_text() == ""


def test_a_tagger_error_fails_its_track_only(tmp_path):
    spec = write_module(
        tmp_path,
        "ds_picky",
        tagger_module("""
        if batch.shape[1] < 2 * 16000:
            raise ValueError("this tagger wants at least 2 s")
        return np.sqrt((batch ** 2).mean(axis=1, keepdims=True))
    """),
    )
    data = render_tracks(tmp_path / "data", count=2, broken=False)
    short = data / "short"
    short.mkdir()
    for path in (data / "song-0").glob("*.wav"):  # the same song cut to 1.5 s
        audio, rate = soundfile.read(path, dtype="float32")
        soundfile.write(short / path.name, audio[: int(1.5 * rate)], rate, subtype="FLOAT")
    result = stemlime.explain_dataset(pipeline(spec), data, tmp_path / "out", samples=32, progress=False)
    assert result.explained == ["song-0", "song-1"] and result.failed == ["short"]
    assert result.failures[0].error == "StemlimeError" and "wants at least 2 s" in result.failures[0].message


# ----------------------------------------------------------------------------- metadata


def test_metadata_tables_top_predicted_tag_against_each_column(data, tagger_spec, tmp_path):
    table = tmp_path / "genres.csv"
    table.write_text(
        "track,genre,decade\nsong-0,rock,1990s\nsong-1,folk,1990s\nsong-2,rock,2000s\nsong-3,folk,2000s\nnot-in-data,jazz,1950s\n"
    )
    out = tmp_path / "out"
    result = stemlime.explain_dataset(pipeline(tagger_spec), data, out, top_labels=1, samples=64, metadata=table, progress=False)
    top = {name: r["dataset"]["top_tags"][0][0] for name, r in track_results(out).items()}
    genres = read_metadata(table)
    expected: dict = {}
    for name, tag in top.items():
        counts = expected.setdefault(genres[name]["genre"], {})
        counts[tag] = counts.get(tag, 0) + 1
    assert result.metadata["genre"] == expected == json.loads((out / "global.json").read_text())["metadata"]["genre"]
    with open(out / "metadata-genre.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(int(r["tracks"]) for r in rows) == 4 and set(rows[0]) == {"genre", "top_tag", "tracks"}
    assert (out / "metadata-decade.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "run.json").read_text())["metadata"]["tracks_not_listed"] == [BROKEN]


def test_a_metadata_file_without_a_track_column_is_refused_before_any_track(data, tagger_spec, tmp_path):
    table = tmp_path / "genres.csv"
    table.write_text("name,genre\nsong-0,rock\n")
    with pytest.raises(UsageError, match="no 'track' column"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, tmp_path / "out", metadata=table, progress=False)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- the output folder


def test_an_output_folder_that_is_not_a_dataset_run_is_refused(data, tagger_spec, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(UsageError, match="did not write"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, foreign, progress=False)
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    single = tmp_path / "single"
    pipeline(tagger_spec).explain(data / "song-0" / "mixture.wav", samples=16, progress=False).save(single)
    with pytest.raises(UsageError, match="explanation result, not a dataset run"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, single, progress=False)
    with pytest.raises(UsageError, match="input of this run"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, data.parent, progress=False)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    with ResumableFolder(tmp_path / "out", "dataset"):
        with pytest.raises(UsageError, match="another run is writing"):
            with ResumableFolder(tmp_path / "out", "dataset"):
                pass
    with ResumableFolder(tmp_path / "out", "dataset"):  # free again
        pass


def test_what_interrupted_swaps_left_is_cleared_and_finished_tracks_stay(tmp_path):
    out = tmp_path / "out"
    with ResumableFolder(out, "dataset", subfolders=["tracks"]) as root:
        (root / "tracks" / "done").mkdir()
        (root / "tracks" / ".song.tmp-0a1b2c3d").mkdir()
        (root / "tracks" / ".song.old-0a1b2c3d").mkdir()
    with ResumableFolder(out, "dataset", subfolders=["tracks"]) as root:
        assert sorted(p.name for p in (root / "tracks").iterdir()) == ["done"]


def test_pipeline_wide_mistakes_stop_the_run_before_any_track(data, tagger_spec, tmp_path):
    with pytest.raises(UsageError, match="no label 'lound'"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, tmp_path / "out", labels=["lound"], progress=False)
    with pytest.raises(UsageError, match="use the Ray engine"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, tmp_path / "out", workers=2, progress=False)
    with pytest.raises(UsageError, match="engine must be one of"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, tmp_path / "out", engine="spark", progress=False)
    assert not (tmp_path / "out").exists()


def test_workers_ask_ray_for_a_gpu_share_when_the_tagger_runs_on_cuda():
    """What each Ray actor asks for (no GPU is needed to decide it; running there needs one)."""
    pytest.importorskip("stemlime_musicnn", reason="stemlime-musicnn is not installed")
    from stemlime.dataset.engines import gpus_per_worker

    on = lambda device: stemlime.Pipeline(tagger=f"musicnn,device={device}", separator="oracle")
    assert gpus_per_worker(on("cuda"), workers=2, cluster_gpus=1) == 0.5  # two actors share the GPU
    assert gpus_per_worker(on("auto"), workers=1, cluster_gpus=4) == 1.0
    assert gpus_per_worker(on("auto"), workers=2, cluster_gpus=0) == 0.0
    assert gpus_per_worker(on("cpu"), workers=2, cluster_gpus=4) == 0.0
    with pytest.raises(UsageError, match="has no GPU"):
        gpus_per_worker(on("cuda"), workers=2, cluster_gpus=0)


# ----------------------------------------------------------------------------- Ctrl-C


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_tracks_and_the_rerun_completes(data, tmp_path):
    """A slow tagger, SIGINT once the first track is saved: exit 130, finished tracks whole, no
    half-written folder, run.json says incomplete, and the rerun explains only the rest."""
    spec = write_module(
        tmp_path,
        "ds_slow",
        tagger_module(
            """
        time.sleep(1.0)  # 8 masks a track: several seconds per track, so that Ctrl-C lands mid-run even under load
        return np.sqrt((batch ** 2).mean(axis=1, keepdims=True))
    """,
            imports="import time",
        ),
    )
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "stemlime",
        "explain-dataset",
        str(data),
        "--tagger",
        spec,
        "--samples",
        "8",
        "--batch-size",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120

    def finished_tracks():  # swapped in: a staging folder (.song-0.staging-...) is hidden, and pathlib's * matches it
        return [p for p in (out / "tracks").glob("*/explanation.json") if not p.parent.name.startswith(".")]

    while not finished_tracks() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in error and "Traceback" not in error, error
    finished = track_results(out)
    assert 1 <= len(finished) < 4
    assert [p.name for p in (out / "tracks").iterdir() if p.name.startswith(".")] == []
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] is False and run["tracks"]["explained"] == len(finished)
    rerun = stemlime.explain_dataset(pipeline(spec, batch_size=1), data, out, samples=8, progress=False)
    assert sorted(rerun.skipped) == sorted(finished) and len(rerun.explained) == 4 - len(finished)


# ----------------------------------------------------------------------------- the aggregation


def _explanation(weights: dict[str, dict[str, float]], components: list[tuple[str, str]]) -> ExplanationRecord:
    return ExplanationRecord.from_json(
        {
            "sample_rate": 16000,
            "components": [{"name": name, "stem": stem, "start": 0.0, "end": 1.0} for name, stem in components],
            "labels": {label: {"weights": w} for label, w in weights.items()},
        }
    )


def test_segments_aggregate_by_stem_so_different_segmentations_mix():
    segmented = _explanation(
        {"rock": {"vocals@a": 0.25, "vocals@b": 0.5, "drums@a": -0.5}},
        [("vocals@a", "vocals"), ("vocals@b", "vocals"), ("drums@a", "drums"), ("drums@b", "drums")],
    )
    whole = _explanation({"rock": {"vocals": -0.25, "drums": 1.0}}, [("vocals", "vocals"), ("drums", "drums")])
    rock = aggregate([segmented, whole]).to_json()["labels"]["rock"]
    assert rock["tracks"] == 2
    assert rock["components"]["vocals"] == {
        "n": 2,
        "mean_weight": 0.25,
        "mean_abs_weight": 0.5,
        "top1_share": 0.5,
        "importance": 1.0,
        "homogeneity_importance": 1.0,
    }
    assert rock["components"]["drums"]["mean_weight"] == 0.25 and rock["components"]["drums"]["importance"] == math.sqrt(1.5)


def test_homogeneity_weighting_favours_stems_that_matter_for_one_label():
    """van der Linden et al.: drums matter for rock only (entropy 0, factor 1); vocals equally for
    both labels (the highest entropy, factor 0); bass in between."""
    tracks = [
        _explanation({"rock": {"drums": 4.0, "vocals": 1.0, "bass": 1.0}}, [("drums", "drums"), ("vocals", "vocals"), ("bass", "bass")]),
        _explanation({"pop": {"vocals": 1.0, "bass": 0.25}}, [("drums", "drums"), ("vocals", "vocals"), ("bass", "bass")]),
    ]
    labels = aggregate(tracks).to_json()["labels"]
    h_bass = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))  # importances 1 and 0.5 -> shares 2/3, 1/3
    factor = 1 - h_bass / math.log(2)
    assert labels["rock"]["components"]["drums"]["homogeneity_importance"] == pytest.approx(2.0)
    assert labels["rock"]["components"]["vocals"]["homogeneity_importance"] == pytest.approx(0.0)
    assert labels["pop"]["components"]["bass"]["homogeneity_importance"] == pytest.approx(0.5 * factor)
    assert labels["rock"]["components"]["bass"]["homogeneity_importance"] == pytest.approx(1.0 * factor)


# ----------------------------------------------------------------------------- the command line


def test_the_command_exits_1_when_a_track_failed_after_all_others_are_done(data, tagger_spec, tmp_path):
    """(Runs without a failure exit 0: the README's commands in test_dataset_cli.)"""
    failed = stemlime_cli("explain-dataset", str(data), "--tagger", tagger_spec, "--samples", "64", "--out", str(tmp_path / "a"))
    assert failed.returncode == 1 and "1 of 5 tracks failed" in failed.stderr and "failures.jsonl" in failed.stderr
    assert "4 explained" in failed.stdout and "loud (4 tracks)" in failed.stdout and "Traceback" not in failed.stderr
    assert len(track_results(tmp_path / "a")) == 4
    usage = stemlime_cli("explain-dataset", str(data), "--tagger", tagger_spec, "--workers", "3", "--out", str(tmp_path / "c"))
    assert usage.returncode == 2 and "Ray engine" in usage.stderr and not (tmp_path / "c").exists()


# ----------------------------------------------------------------------------- snippets (--snippets best:N)


def _windowed_taggram(mixture: Path) -> np.ndarray:
    """The windowed tagger's taggram of a track, computed here: its predict on each 1-s window."""
    namespace: dict = {}
    exec(LOUD_BRIGHT_WINDOWED, namespace)
    audio, rate = soundfile.read(mixture, dtype="float32")
    window = int(WINDOW_SECONDS * rate)
    assert rate == RATE and audio.ndim == 1
    return namespace["tagger"].predict(audio[: len(audio) // window * window].reshape(-1, window))


def test_snippets_explain_each_tracks_best_windows_for_its_top_label(data, windowed_spec, tmp_path):
    out = tmp_path / "out"
    result = stemlime.explain_dataset(pipeline(windowed_spec), data, out, snippets="best:2", samples="exhaustive", progress=False)
    assert result.explained == GOOD and result.failed == [BROKEN]
    for name in GOOD:
        folder = out / "tracks" / name
        assert json.loads((folder / MARKER).read_text())["kind"] == "scan"  # what 'stemlime scan' writes
        scan = json.loads((folder / "scan.json").read_text())
        taggram = _windowed_taggram(data / name / "mixture.wav")
        top = int(np.argmax(taggram.mean(axis=0)))
        assert scan["label"] == ["loud", "bright"][top] == scan["dataset"]["top_tags"][0][0]
        assert scan["dataset"]["track"] == name and scan["dataset"]["settings_hash"] == result.settings_hash
        assert [s["frame"] for s in scan["snippets"]] == list(np.argsort(-taggram[:, top], kind="stable")[:2])
        np.testing.assert_allclose([s["probability"] for s in scan["snippets"]], np.sort(taggram[:, top])[::-1][:2], atol=1e-6)
        for snippet in scan["snippets"]:
            explained = json.loads((folder / snippet["explanation"] / "explanation.json").read_text())
            assert list(explained["labels"]) == [scan["label"]]
            assert explained["start"] == snippet["start"] == snippet["frame"] * WINDOW_SECONDS and explained["duration"] == 1.0
            assert explained["dataset"] == {"track": name, "settings_hash": result.settings_hash, "snippet": snippet["rank"]}
        assert (folder / "index.html").is_file() and (folder / "taggram.png").is_file()
    on_disk = json.loads((out / "global.json").read_text())
    assert on_disk["snippets"] == "best:2" and on_disk["tracks"] == 4 and on_disk["explanations"] == 8
    assert_global_matches(on_disk, snippet_results(out))  # each snippet one explanation
    assert "snippets)" in result.summary()
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["snippets"] == "best:2" and run["settings"]["explain"]["top_labels"] == 1
    assert run["results"] == {name: f"tracks/{name}" for name in GOOD}

    before = snapshot(out)
    again = stemlime.explain_dataset(pipeline(windowed_spec), data, out, snippets=2, top_labels=1, samples="exhaustive", progress=False)
    assert again.explained == [] and again.skipped == GOOD and snapshot(out) == before, "best:2, 2 and the top label are one setting"
    with pytest.warns(UserWarning, match="4 result.* other settings"):
        plain = stemlime.explain_dataset(pipeline(windowed_spec), data, out, samples="exhaustive", progress=False)
    assert plain.explained == GOOD and {p.name for p in (out / "tracks" / "song-0").iterdir()} >= {"explanation.json"}
    assert "snippets" not in json.loads((out / "global.json").read_text())


def test_snippets_follow_one_given_label_and_refuse_what_does_not_fit(data, windowed_spec, tmp_path):
    out = tmp_path / "out"
    result = stemlime.explain_dataset(pipeline(windowed_spec), data, out, snippets="best:1", labels=["bright"], samples=16, progress=False)
    assert {json.loads(p.read_text())["label"] for p in (out / "tracks").glob("*/scan.json")} == {"bright"}
    assert list(result.global_explanation.to_json()["labels"]) == ["bright"] and result.global_explanation.to_json()["explanations"] == 4
    refused = tmp_path / "refused"
    for wrong, message in [
        ({"labels": ["loud", "bright"]}, "follows one label"),
        ({"top_labels": 2}, "follows one label"),
        ({"start": 1.0}, "not both"),
        ({"duration": 1.0}, "not both"),
    ]:
        with pytest.raises(UsageError, match=message):
            stemlime.explain_dataset(pipeline(windowed_spec), data, refused, snippets="best:2", progress=False, **wrong)
    for choice in ("best:0", "worst:2", "best:", "best:two", 0, True):
        with pytest.raises(UsageError, match="snippets"):
            stemlime.explain_dataset(pipeline(windowed_spec), data, refused, snippets=choice, progress=False)
    usage = stemlime_cli(
        "explain-dataset",
        str(data),
        "--tagger",
        windowed_spec,
        "--snippets",
        "best:2",
        "--start",
        "1",
        "--duration",
        "1",
        "--out",
        str(refused),
    )
    assert usage.returncode == 2 and "--start/--duration" in usage.stderr and "Traceback" not in usage.stderr
    assert not refused.exists()


# ----------------------------------------------------------------------------- the page (stemlime report OUT, --report)


class _Tables(HTMLParser):
    """Every table row of a page as its cells' text."""

    def __init__(self, page: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_the_dataset_page_shows_the_run_the_global_numbers_the_failures_and_links_every_track(data, tagger_spec, tmp_path):
    table = tmp_path / "genres.csv"
    table.write_text("track,genre\nsong-0,rock\nsong-1,folk\nsong-2,rock\nsong-3,folk\n")
    out = tmp_path / "out"
    result = stemlime.explain_dataset(
        pipeline(tagger_spec), data, out, top_labels=2, samples=64, metadata=table, report=True, progress=False
    )
    assert result.page == out / "index.html" and "index.html" in result.summary()
    page = result.page.read_text()
    rows = _Tables(page).rows
    failure = json.loads((out / "failures.jsonl").read_text())
    assert [BROKEN, "AudioError", failure["message"]] in rows
    summary = json.loads((out / "global.json").read_text())
    heatmap = page[page.index('aria-label="mean weight by label and stem"') :]
    heatmap = heatmap[: heatmap.index("</svg>")]
    for label, entry in summary["labels"].items():
        for stem, m in entry["components"].items():
            assert f"<title>{label} ({entry['tracks']}) @ {stem}: {m['mean_weight']:+.4f}</title>" in heatmap
            assert [
                stem,
                str(m["n"]),
                f"{m['mean_weight']:+.4f}",
                f"{m['mean_abs_weight']:.4f}",
                f"{m['top1_share']:.2f}",
                f"{m['importance']:.4f}",
                f"{m['homogeneity_importance']:.4f}",
            ] in rows
    assert heatmap.count("<rect") == sum(len(entry["components"]) for entry in summary["labels"].values())
    assert 'aria-label="tracks by genre and top predicted tag"' in page
    links = [html.unescape(link) for link in re.findall(r'href="([^"]+)"', page) if not link.startswith("data:")]
    assert all((out / link).is_file() for link in links), "every link is a file of the folder"
    assert {link for link in links if link.startswith("tracks/")} == {f"tracks/{name}/index.html" for name in GOOD}
    assert re.search(r'<div class="value">4</div><div class="name">explained by this run</div>', page)

    (out / "index.html").unlink()
    again = stemlime.explain_dataset(
        pipeline(tagger_spec), data, out, top_labels=2, samples=64, metadata=table, report=True, progress=False
    )
    assert again.skipped == GOOD and re.search(
        r'<div class="value">4</div><div class="name">already done</div>', (out / "index.html").read_text()
    ), "a resumed run writes its page too"
    (out / "index.html").unlink()
    (out / "tracks" / "song-0" / "index.html").unlink()
    shown = stemlime_cli("report", str(out))
    assert shown.returncode == 0 and shown.stdout.strip() == str(out / "index.html")
    assert (out / "tracks" / "song-0" / "index.html").is_file(), "the tracks' pages come with the dataset's"
