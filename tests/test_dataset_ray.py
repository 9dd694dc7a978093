"""explain-dataset on a real local Ray cluster (2 CPUs, started once for this module): actors
that each hold a loaded pipeline, the same per-track function as the local engine, failures
recorded, reruns that redo nothing, and a worker killed mid-run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import stemlime
from stemlime import UsageError

from dataset_support import BROKEN, assert_global_matches, snippet_results, tagger_module, track_results, write_module
from dataset_support import data, tagger_spec, windowed_spec  # noqa: F401 (fixtures)

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'stemlime[ray]')")

# one Ray cluster at a time: with pytest-xdist, the Ray modules run on one worker, one after the other
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]

GOOD = ["song-0", "song-1", "song-2", "song-3"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local Ray cluster for the module: 2 CPUs, a small object store, no dashboard."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20, log_to_driver=False)
    yield
    ray.shutdown()


def pipeline(spec: str, **settings) -> stemlime.Pipeline:
    return stemlime.Pipeline(tagger=spec, separator="oracle", **settings)


def test_ray_workers_explain_every_good_track_as_the_local_engine_does(data, tagger_spec, tmp_path):
    on_ray = stemlime.explain_dataset(
        pipeline(tagger_spec), data, tmp_path / "ray", top_labels=2, samples=200, engine="ray", workers=2, progress=False
    )
    assert on_ray.explained == GOOD and on_ray.failed == [BROKEN] and on_ray.workers == 2
    assert [json.loads(line)["track"] for line in (tmp_path / "ray" / "failures.jsonl").read_text().splitlines()] == [BROKEN]
    run = json.loads((tmp_path / "ray" / "run.json").read_text())
    pids = {int(w["worker"].rsplit(":", 1)[1]) for w in run["workers"]}
    assert len(pids) == 2 and os.getpid() not in pids and run["engine"] == "ray"
    results = track_results(tmp_path / "ray")
    assert_global_matches(json.loads((tmp_path / "ray" / "global.json").read_text()), list(results.values()))

    local = stemlime.explain_dataset(pipeline(tagger_spec), data, tmp_path / "local", top_labels=2, samples=200, progress=False)
    assert local.settings_hash == on_ray.settings_hash and local.global_explanation == on_ray.global_explanation
    assert track_results(tmp_path / "local") == results  # the same per-track function, bit for bit


def test_a_rerun_on_ray_explains_nothing_again(data, tagger_spec, tmp_path):
    out = tmp_path / "out"
    stemlime.explain_dataset(pipeline(tagger_spec), data, out, samples=64, engine="ray", progress=False)
    before = {p: p.stat().st_mtime_ns for p in (out / "tracks").rglob("*")}
    again = stemlime.explain_dataset(pipeline(tagger_spec), data, out, samples=64, engine="ray", progress=False)
    assert again.explained == [] and again.skipped == GOOD and again.failed == [BROKEN]
    assert {p: p.stat().st_mtime_ns for p in (out / "tracks").rglob("*")} == before


def test_snippets_on_ray_workers_are_the_local_engines(data, windowed_spec, tmp_path):
    on_ray = stemlime.explain_dataset(
        pipeline(windowed_spec), data, tmp_path / "ray", snippets="best:2", samples=64, engine="ray", workers=2, progress=False
    )
    local = stemlime.explain_dataset(pipeline(windowed_spec), data, tmp_path / "local", snippets="best:2", samples=64, progress=False)
    assert on_ray.explained == local.explained == GOOD and on_ray.failed == [BROKEN]
    assert on_ray.global_explanation == local.global_explanation and on_ray.global_explanation.to_json()["explanations"] == 8
    scans = {
        engine: {name: json.loads((tmp_path / engine / "tracks" / name / "scan.json").read_text()) for name in GOOD}
        for engine in ("ray", "local")
    }
    assert scans["ray"] == scans["local"] and snippet_results(tmp_path / "ray") == snippet_results(tmp_path / "local")


def test_a_worker_killed_mid_run_still_ends_with_every_good_track_explained(data, tmp_path):
    """The first tagger call on any worker kills that worker's process (SIGKILL, as the kernel's
    out-of-memory killer would): Ray restarts the actor and retries its track."""
    trigger = tmp_path / "kill-once"
    trigger.write_text("")
    spec = write_module(
        tmp_path,
        "ds_fragile",
        tagger_module(
            f"""
        try:
            os.remove({str(trigger)!r})
        except FileNotFoundError:
            pass
        else:
            with open({str(trigger) + ".pid"!r}, "w") as handle:
                handle.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return np.tanh(10 * np.sqrt((batch ** 2).mean(axis=1, keepdims=True)))
    """,
            imports="import os\nimport signal",
        ),
    )
    result = stemlime.explain_dataset(pipeline(spec), data, tmp_path / "out", samples=64, engine="ray", workers=2, progress=False)
    assert not trigger.exists()  # a worker did die
    assert result.explained == GOOD and result.failed == [BROKEN]
    killed = int(Path(f"{trigger}.pid").read_text())
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    explained_by = {int(w["worker"].rsplit(":", 1)[1]): w["tracks"] for w in run["workers"]}
    assert sum(explained_by.values()) == 4 and explained_by.get(killed, 0) == 0  # (it may have failed the broken track)
    assert len([pid for pid, tracks in explained_by.items() if tracks]) >= 2  # the other actor and the restarted one
    assert sorted(track_results(tmp_path / "out")) == GOOD


def test_real_musicnn_on_ray_workers_gives_the_local_explanation(data, tmp_path):
    pytest.importorskip("stemlime_musicnn", reason="stemlime-musicnn is not installed")
    from model_support import musicnn_folder

    musicnn_folder()
    spec = "musicnn:MSD_musicnn,device=cpu"
    result = stemlime.explain_dataset(
        stemlime.Pipeline(tagger=spec, separator="oracle"),
        data,
        tmp_path / "out",
        top_labels=1,
        samples="exhaustive",
        engine="ray",
        workers=2,
        progress=False,
    )
    assert result.explained == GOOD and result.failed == [BROKEN]
    on_ray = track_results(tmp_path / "out")["song-1"]
    here = stemlime.Pipeline(tagger=spec, separator="oracle").explain(
        data / "song-1" / "mixture.wav", top_labels=1, samples="exhaustive", progress=False
    )
    label = next(iter(here.labels))
    assert list(on_ray["labels"]) == [label] and on_ray["dataset"]["top_tags"][0][0] == label
    assert on_ray["labels"][label]["weights"].keys() == here.weights(label).keys()
    np.testing.assert_allclose(
        list(on_ray["labels"][label]["weights"].values()), list(here.weights(label).values()), rtol=0, atol=1e-5
    )  # the worker's single thread sums in another order


def test_what_ray_cannot_run_is_refused_before_any_track(data, tagger_spec, tmp_path):
    import threading

    class Locked:
        labels = ["loud"]
        sample_rate = 16000
        input_seconds = None
        lock = threading.Lock()  # cannot be pickled

        def predict(self, batch):
            return np.ones((len(batch), 1))

    locked = Locked()
    locked.lock = threading.Lock()
    with pytest.raises(UsageError, match="cannot be sent to Ray workers"):
        stemlime.explain_dataset(stemlime.Pipeline(tagger=locked, separator="oracle"), data, tmp_path / "a", engine="ray", progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(UsageError, match="the Ray cluster has 2 CPU"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, tmp_path / "b", engine="ray", workers=3, progress=False)
    with pytest.raises(UsageError, match="no label 'lound'"):
        stemlime.explain_dataset(pipeline(tagger_spec), data, tmp_path / "c", engine="ray", labels=["lound"], progress=False)
