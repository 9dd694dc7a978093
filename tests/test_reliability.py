"""Nothing lost, nothing silently wrong, nothing hangs (issue #25): each case as a user met it.

Output folders go through one mechanism (``stemlime.fs``): render replaces its song folder
whole, render-dataset never nests inside another result nor fills a folder it did not write,
explain-dataset's summaries are swapped in whole and ``run.json`` comes last, and no lock file
outlives a run. A verdict needs a prediction that moves; sizes are checked against memory
before any work; messages name flags, files and remedies, never unsafe advice.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

import stemlime
from conftest import PIECE
from dataset_support import render_tracks, write_module
from stemlime.cli import main
from stemlime.fs import LOCK_NAME, MARKER, write_marker

RATE = "16000"


def _render(out: Path, *arguments: str) -> int:
    return main(["render", "--duration", "2", "--sample-rate", RATE, *arguments, "--out", str(out)])


def _audible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# ----------------------------------------------------------------------------- render and render-dataset


def test_render_replaces_its_earlier_song_whole(tmp_path, capsys):
    song = tmp_path / "song"
    assert _render(song, "--seed", "3", "--instruments", "piano,bass,drums") == 0
    assert _render(song, "--seed", "99", "--instruments", "piano,drums") == 0
    assert _audible(song) == ["drums.wav", "metadata.json", "mixture.wav", "piano.wav"]  # no bass.wav of the first run
    explanation = stemlime.Pipeline(tagger=_loudness(tmp_path), separator="oracle").explain(
        song / "mixture.wav", samples="exhaustive", progress=False
    )
    assert {c.stem for c in explanation.components} == {"piano", "drums"}


def test_render_refuses_a_folder_it_did_not_write_before_rendering_and_force_replaces_it(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    started = time.perf_counter()
    assert _render(mine, "--seed", "1") == 2
    error = capsys.readouterr().err
    assert "did not write" in error and "--force" in error and (mine / "notes.txt").read_text() == "keep me"
    assert time.perf_counter() - started < 5  # refused before rendering
    assert _render(mine, "--seed", "1", "--force") == 0
    assert not (mine / "notes.txt").exists() and (mine / "mixture.wav").is_file()


def test_render_never_writes_over_its_midi_file(tmp_path, capsys):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=0.5))
    midi.instruments.append(piano)
    midi.write(str(tmp_path / "tune.mid"))
    assert main(["render", str(tmp_path / "tune.mid"), "--sample-rate", RATE, "--out", str(tmp_path), "--force"]) == 2
    assert "input" in capsys.readouterr().err and (tmp_path / "tune.mid").is_file()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rendered") / "ds"
    assert (
        main(
            [
                "render-dataset",
                "--count",
                "1",
                "--duration",
                "2",
                "--sample-rate",
                RATE,
                "--instruments",
                "piano,bass",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def _render_dataset(out: Path, count: int = 1) -> int:
    return main(
        [
            "render-dataset",
            "--count",
            str(count),
            "--duration",
            "2",
            "--sample-rate",
            RATE,
            "--instruments",
            "piano,bass",
            "--no-progress",
            "--out",
            str(out),
        ]
    )


def test_render_dataset_never_nests_inside_a_result_nor_fills_another_kind_or_foreign_folder(rendered, tmp_path, capsys):
    assert _render_dataset(rendered / "piece-00000") == 2
    assert "lies inside" in capsys.readouterr().err
    assert _render_dataset(rendered / "piece-00000" / "deeper") == 2
    assert "lies inside" in capsys.readouterr().err
    explained = tmp_path / "explained"
    explained.mkdir()
    write_marker(explained, "dataset")  # what explain-dataset leaves
    assert _render_dataset(explained) == 2
    assert "dataset result" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert _render_dataset(foreign) == 2
    assert "did not write" in capsys.readouterr().err and _audible(foreign) == ["notes.txt"]


def test_render_dataset_resumes_a_dataset_an_earlier_stemlime_wrote_without_marks(rendered, tmp_path):
    legacy = tmp_path / "legacy"
    shutil.copytree(rendered, legacy)
    for marker in legacy.rglob(MARKER):
        marker.unlink()
    assert _render_dataset(legacy, count=2) == 0
    assert _audible(legacy) == ["dataset.json", "piece-00000", "piece-00001"]
    assert (legacy / MARKER).is_file() and not (legacy / LOCK_NAME).exists()


# ----------------------------------------------------------------------------- explain-dataset


@pytest.fixture(scope="module")
def tracks(tmp_path_factory) -> Path:
    return render_tracks(tmp_path_factory.mktemp("tracks") / "data", count=2, broken=False)


def test_ctrl_c_while_the_summaries_are_written_leaves_run_json_incomplete_and_a_page_can_be_made(tracks, tmp_path, monkeypatch):
    from stemlime.dataset import run as dataset_run
    from stemlime.report import render_report

    spec = write_module(tmp_path, "rel_loud")
    pipeline = stemlime.Pipeline(tagger=spec, separator="oracle")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset_run, "_draw", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        stemlime.explain_dataset(pipeline, tracks, out, samples=8, progress=False)
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] is False and not (out / LOCK_NAME).exists()
    assert not (out / "global.json").exists()  # the summaries are swapped in together, after the drawing
    assert not [p for p in out.iterdir() if p.name.startswith(".summary")]
    monkeypatch.undo()
    assert render_report(out).is_file()  # the page of an interrupted run
    rerun = stemlime.explain_dataset(pipeline, tracks, out, samples=8, progress=False)
    assert len(rerun.skipped) == 2 and json.loads((out / "run.json").read_text())["complete"] is True


def test_a_ray_address_that_nothing_answers_at_is_refused_in_seconds(tracks, tmp_path, monkeypatch, capsys):
    from stemlime.dataset import engines

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stale = tmp_path / "ray_current_cluster"
    stale.write_text(f"127.0.0.1:{port}")
    monkeypatch.setattr(engines, "RAY_CURRENT_CLUSTER", stale)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    started = time.perf_counter()
    status = main(
        [
            "explain-dataset",
            str(tracks),
            "--tagger",
            write_module(tmp_path, "rel_ray"),
            "--engine",
            "ray",
            "--address",
            "auto",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    error = capsys.readouterr().err
    assert status == 2 and f"no Ray cluster answers at 127.0.0.1:{port}" in error and "ray start --head" in error
    assert time.perf_counter() - started < 30 and not (tmp_path / "out").exists()
    stale.unlink()
    assert (
        main(
            [
                "explain-dataset",
                str(tracks),
                "--tagger",
                write_module(tmp_path, "rel_ray2"),
                "--engine",
                "ray",
                "--address",
                "auto",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "no 'ray start' ran here" in capsys.readouterr().err


# ----------------------------------------------------------------------------- silently wrong


def _silent_song(tmp_path: Path) -> Path:
    """piece1_16k's folder (mixture and true stems) with every file silent: its mixture.wav."""
    song = tmp_path / "song"
    shutil.copytree(PIECE, song)
    for path in song.glob("*.wav"):
        audio, rate = soundfile.read(path, dtype="float32")
        soundfile.write(path, np.zeros_like(audio), rate)
    return song / "mixture.wav"


LOUDNESS = """import numpy as np


class Loud:
    labels = ["loud"]
    sample_rate = 16000
    input_seconds = None

    def predict(self, batch):
        return np.tanh(10 * np.sqrt((batch ** 2).mean(axis=1, keepdims=True)))


tagger = Loud()
"""


def _loudness(tmp_path: Path) -> str:
    """The spec of a loudness tagger (a module written into ``tmp_path``)."""
    return write_module(tmp_path, "rel_loudness", LOUDNESS)


def test_an_explanation_of_silence_warns_that_nothing_explains_it(tmp_path):
    silent = _silent_song(tmp_path)
    pipeline = stemlime.Pipeline(tagger=_loudness(tmp_path), separator="oracle")
    with pytest.warns(UserWarning, match="no component explains it"):
        explanation = pipeline.explain(silent, samples="exhaustive", progress=False)
    assert not explanation.label("loud").moves
    assert "does not move" in explanation.summary()


def test_a_scan_of_silence_gives_no_stem_the_verdict(tmp_path):
    silent = _silent_song(tmp_path)
    pipeline = stemlime.Pipeline(tagger=_loudness(tmp_path), separator="oracle")
    with pytest.warns(UserWarning):
        scan = stemlime.scan(pipeline, silent, label="loud", snippets=1, samples="exhaustive", progress=False)
    assert scan.verdict().startswith("no stem explains loud: the tagger's output does not move")
    assert set(scan.stem_counts().values()) == {0}


def test_a_page_of_a_result_whose_audio_was_deleted_says_what_is_missing(tmp_path):
    from stemlime.report import render_report

    pipeline = stemlime.Pipeline(tagger=_loudness(tmp_path), separator="oracle")
    out = tmp_path / "out"
    pipeline.explain(PIECE / "mixture.wav", duration=2.0, samples=16, progress=False, out=out)
    shutil.rmtree(out / "components")
    with pytest.warns(UserWarning, match=r"5 audio files that the result lists are missing \(components/"):
        render_report(out)


# ----------------------------------------------------------------------------- sizes, devices, files, messages


def test_sizes_beyond_memory_are_refused_before_any_work(tmp_path, capsys):
    for samples in ("99999999999999999999", "100000000000"):
        status = main(
            ["explain", str(PIECE / "mixture.wav"), "--tagger", _loudness(tmp_path), "--samples", samples, "--out", str(tmp_path / "o")]
        )
        error = capsys.readouterr().err
        assert status == 2 and "of memory" in error and "--samples" in error and "unexpected" not in error


def test_a_batch_too_large_for_memory_is_refused(tmp_path):
    from stemlime.engine import Engine
    from stemlime.surrogates import RidgeSurrogate

    class Still:
        labels, sample_rate, input_seconds = ["x"], 16000, None

        def predict(self, batch):
            return np.zeros((len(batch), 1))

    engine = Engine(np.zeros((2, 16000), np.float32), Still(), RidgeSurrogate(), batch_size=10**12)
    # components 10^11 samples long, as a view of one zero (nothing allocated): a batch of 3 needs 1.2 TB
    engine.component_audio = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (2, 10**11), (0, 0))
    with pytest.raises(stemlime.UsageError, match="--batch-size"):
        engine.outputs(np.array([[1, 1], [1, 0], [0, 1]]))


def test_a_recipe_that_asks_for_cuda_without_a_gpu_is_refused_before_it_starts(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    started = time.perf_counter()
    assert main(["models", "build", "cerberus/pno-gtr-bss-drm", "--device", "cuda", "--force"]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err and time.perf_counter() - started < 20


def test_an_hf_folder_that_does_not_exist_is_named(capsys, tmp_path):
    pytest.importorskip("stemlime_hf")
    assert main(["tag", str(PIECE / "mixture.wav"), "--tagger", "hf,model=nosuchdir/"]) == 2
    assert "model=nosuchdir/: no such folder" in capsys.readouterr().err


def test_a_garbage_checkpoint_is_refused_without_torchs_unsafe_advice_or_escape_codes(tmp_path, capsys):
    pytest.importorskip("stemlime_hf")
    (tmp_path / "net.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(4, 2)\n")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(300))
    status = main(
        ["tag", str(PIECE / "mixture.wav"), "--tagger", f"torch,module=net:build,path={tmp_path},checkpoint={garbage},sample_rate=16000"]
    )
    error = capsys.readouterr().err
    assert status == 1 and str(garbage) in error and "never pickled code" in error
    assert "weights_only set to False" not in error and "will likely succeed" not in error and "\x1b[" not in error


def test_label_and_top_labels_together_name_the_flags(tmp_path, capsys):
    assert (
        main(
            [
                "explain",
                str(PIECE / "mixture.wav"),
                "--tagger",
                _loudness(tmp_path),
                "--label",
                "loud",
                "--top-labels",
                "1",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "(--label or --top-labels)" in capsys.readouterr().err


def test_a_warning_reaches_the_user_as_one_clean_line(tmp_path):
    truncated = tmp_path / "cut.wav"
    audio, rate = soundfile.read(PIECE / "mixture.wav", dtype="float32")
    soundfile.write(truncated, audio, rate)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])  # the header still says the full length
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stemlime",
            "explain",
            str(truncated),
            "--tagger",
            _loudness(tmp_path),
            "--samples",
            "16",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    for line in result.stderr.splitlines():
        assert line.startswith("stemlime: ") or not line.strip(), line  # no source file, no code line
    assert ".py:" not in result.stderr


def test_check_refuses_its_arguments_before_anything_is_explained(tmp_path, capsys):
    spec = write_module(
        tmp_path,
        "rel_counting",
        """import numpy as np\nCALLS = []\n
class Tagger:
    labels = ["loud"]
    sample_rate = 16000
    input_seconds = None

    def predict(self, batch):
        CALLS.append(len(batch))
        return np.ones((len(batch), 1))


tagger = Tagger()
""",
    )
    for arguments, flag in (
        (["stability", "--seeds", "1"], "--seeds"),
        (["sanity", "--draws", "0"], "--draws"),
        (["fidelity", "--random-orders", "0"], "--random-orders"),
    ):
        assert main(["check", arguments[0], str(PIECE / "mixture.wav"), "--tagger", spec, *arguments[1:]]) == 2
        assert flag in capsys.readouterr().err
    counting = sys.modules.get("rel_counting")  # not even imported: refused before the pipeline was built
    assert counting is None or counting.CALLS == []


# ----------------------------------------------------------------------------- console noise


def test_a_soundfont_fluidsynth_cannot_read_gives_one_line_with_fluidsynths_reason(tmp_path):
    bad = tmp_path / "bad.sf2"
    bad.write_text("junk")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stemlime",
            "render",
            "--duration",
            "1",
            "--sample-rate",
            RATE,
            "--soundfont",
            str(bad),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode in (1, 2)  # 2: its header is no SoundFont's; 1: FluidSynth cannot load it
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # no CRITICAL lines of GLib or FluidSynth
    assert str(bad) in result.stderr and "SoundFont" in result.stderr


def test_models_list_into_a_closed_pipe_stops_quietly(tmp_path):
    result = subprocess.run(
        f"{sys.executable} -m stemlime models list | head -1", shell=True, capture_output=True, text=True, executable="/bin/bash"
    )
    assert len(result.stdout.splitlines()) == 1 and result.stderr == ""


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time (conftest)
def test_a_ray_run_prints_no_start_up_notes(tracks, tmp_path):
    pytest.importorskip("ray")
    spec = write_module(tmp_path, "rel_ray_quiet", LOUDNESS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stemlime",
            "explain-dataset",
            str(tracks),
            "--tagger",
            spec,
            "--engine",
            "ray",
            "--workers",
            "1",
            "--samples",
            "8",
            "--no-progress",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Token authentication" not in result.stderr and "WARNING" not in result.stderr


# ----------------------------------------------------------------------------- the sweep


def _tagger(tmp_path: Path) -> str:
    return write_module(tmp_path, "sweep_loud")


def test_a_folder_an_empty_name_or_a_loop_of_links_given_as_a_file_is_called_what_it_is(tmp_path, capsys):
    spec = _tagger(tmp_path)
    (tmp_path / "dir.wav").mkdir()
    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    cases = [
        ([str(tmp_path / "dir.wav")], "dir.wav is a folder, not a file"),
        ([str(PIECE / "mixture.wav"), "--config", str(tmp_path / "dir.wav")], "dir.wav is a folder, not a file (--config)"),
        ([str(tmp_path / "loop.wav")], "symbolic links form a loop"),
        ([""], "is empty (an unset shell variable?)"),
    ]
    for arguments, message in cases:
        status = main(["explain", *arguments, "--tagger", spec, "--separator", "none", "--out", str(tmp_path / "o")])
        error = capsys.readouterr().err
        assert status in (1, 2) and message in error and "unexpected" not in error, error
    assert main(["explain", str(PIECE / "mixture.wav"), "--tagger", spec, "--out", ""]) == 2
    assert "--out was given an empty value" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_empty_file_a_start_past_the_end_and_a_duration_under_one_sample_are_refused_by_name(tmp_path, capsys):
    spec = _tagger(tmp_path)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    for arguments, status, message in (
        ([str(empty)], 1, "holds no audio (0 samples)"),
        ([str(PIECE / "mixture.wav"), "--start", "1e308"], 2, "(--start)"),
        ([str(PIECE / "mixture.wav"), "--duration", "1e-9"], 2, "shorter than one sample"),
    ):
        assert main(["explain", *arguments, "--tagger", spec, "--separator", "none", "--out", str(tmp_path / "o")]) == status
        error = capsys.readouterr().err
        assert message in error and "truncated" not in error, error
    assert main(["tag", str(empty), "--tagger", spec]) == 1
    assert "holds no audio" in capsys.readouterr().err


def test_check_sizes_beyond_memory_are_refused_before_anything_is_explained(tmp_path, capsys):
    spec = _tagger(tmp_path)
    for flag in ("--seeds", "--random-orders", "--draws", "--max-samples"):
        started = time.perf_counter()
        assert main(["check", "stability", str(PIECE / "mixture.wav"), "--tagger", spec, flag, "99999999999"]) == 2
        error = capsys.readouterr().err
        assert "of memory" in error and flag in error and time.perf_counter() - started < 5, error


def test_a_float_option_of_a_spec_must_be_finite(tmp_path, capsys):
    assert (
        main(
            [
                "explain",
                str(PIECE / "mixture.wav"),
                "--tagger",
                _tagger(tmp_path),
                "--surrogate",
                "ridge,alpha=inf",
                "--samples",
                "16",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert "alpha='inf' is not a valid float (a finite number)" in error and "unexpected" not in error


def test_a_tagger_module_that_fails_while_imported_is_the_users_error_named_with_its_line(tmp_path, capsys):
    (tmp_path / "sweep_boom.py").write_text("import numpy\n\nraise RuntimeError('boom at import')\n")
    assert main(["tag", str(PIECE / "mixture.wav"), "--tagger", f"python,object=sweep_boom:tagger,path={tmp_path}"]) == 1
    error = capsys.readouterr().err
    assert "importing module 'sweep_boom' failed (in " in error and "sweep_boom.py, line 3): RuntimeError: boom" in error
    assert "unexpected" not in error and "report it" not in error


def test_explain_dataset_never_writes_inside_its_data(tracks, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tracks, data)
    assert (
        main(["explain-dataset", str(data), "--tagger", _tagger(tmp_path), "--samples", "8", "--no-progress", "--out", str(data / "out")])
        == 2
    )
    assert "lies inside" in capsys.readouterr().err and not (data / "out").exists()
    song = tmp_path / "song"  # a song's own folder is no dataset: its stems are read from it, not from its subfolders
    shutil.copytree(PIECE, song)
    assert main(["separate", str(song / "mixture.wav"), "--separator", "oracle", "--out", str(song / "stems")]) == 0


def test_render_seeds_counts_and_workers_are_checked_before_rendering(tmp_path, capsys):
    pytest.importorskip("stemlime_render")
    assert _render(tmp_path / "r", "--seed", "-1") == 2
    assert "seed must be a whole number from 0 to 4294967295 (--seed), got -1" in capsys.readouterr().err
    for arguments, message in (
        (["--count", "1", "--workers", "-1"], "(--workers), got -1"),
        (["--count", "2", "--seed", "4294967295"], "seeds past 4294967295"),
        (["--count", "4000000000", "--duration", "100"], "of disk"),
    ):
        started = time.perf_counter()
        assert (
            main(["render-dataset", "--duration", "2", "--sample-rate", RATE, *arguments, "--no-progress", "--out", str(tmp_path / "ds")])
            == 2
        )
        error = capsys.readouterr().err
        assert message in error and time.perf_counter() - started < 5, error
    assert not (tmp_path / "ds").exists() and not (tmp_path / "r").exists()


def test_a_model_cache_that_is_a_file_is_named_with_its_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEMLIME_HOME", str(PIECE / "mixture.wav"))
    assert main(["models", "fetch", "musicnn/MTT_vgg"]) == 2
    error = capsys.readouterr().err
    assert "(from $STEMLIME_HOME) cannot be a folder" in error and "unexpected" not in error
    monkeypatch.setenv("STEMLIME_HOME", str(PIECE / "mixture.wav" / "below"))
    assert main(["models", "list"]) == 2


def test_models_fetch_refuses_names_with_defaults_and_tag_a_top_below_one(capsys):
    assert main(["models", "fetch", "nosuch", "--defaults"]) == 2
    assert "or --defaults, not both" in capsys.readouterr().err
    for top in ("0", "-3"):  # -3 printed every label but the last three
        assert main(["tag", str(PIECE / "mixture.wav"), "--tagger", "python", "--top", top]) == 2
        assert "(--top)" in capsys.readouterr().err


def test_ctrl_c_before_a_command_runs_is_interrupted_not_a_traceback(monkeypatch, capsys):
    from stemlime import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)  # the plugins' commands were loading
    assert main(["plugins"]) == 130
    assert capsys.readouterr().err.strip() == "stemlime: error: interrupted"


def test_a_soundfont_that_is_not_one_is_refused_before_fluidsynth_reads_it(tmp_path):
    pytest.importorskip("stemlime_render")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stemlime",
            "render",
            "--seed",
            "1",
            "--duration",
            "1",
            "--sample-rate",
            RATE,
            "--soundfont",
            str(PIECE / "mixture.wav"),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "is not a SoundFont (.sf2)" in result.stderr
    assert "CRITICAL" not in result.stderr and "fluidsynth:" not in result.stderr and not (tmp_path / "r").exists()


def test_the_python_api_refuses_a_component_object_without_its_slots_and_a_source_of_another_type(tmp_path):
    with pytest.raises(stemlime.UsageError, match=r"object with labels, sample_rate, predict .* without labels"):
        stemlime.Pipeline(tagger=object())
    with pytest.raises(stemlime.UsageError, match="the separator must be a spec"):
        stemlime.Pipeline(tagger=_tagger(tmp_path), separator=None)
    with pytest.raises(stemlime.UsageError, match=r"has no tagger \(tagger=None\)"):
        stemlime.Pipeline(tagger=None).explain(PIECE / "mixture.wav", samples=16, progress=False)
    pipeline = stemlime.Pipeline(tagger=_tagger(tmp_path), separator="none")
    for source in (str(PIECE / "mixture.wav").encode(), [str(PIECE / "mixture.wav")]):
        with pytest.raises(stemlime.UsageError, match="must be a file path .* or an array"):
            pipeline.explain(source, samples=16, progress=False)


def test_version_a_boundaries_folder_and_train_threads_before_any_track_is_read(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.startswith("stemlime ")
    if pytest.importorskip("stemlime_temporal"):
        assert (
            main(
                [
                    "explain",
                    str(PIECE / "mixture.wav"),
                    "--tagger",
                    _tagger(tmp_path),
                    "--segmenter",
                    f"manual,boundaries=@{tmp_path}",
                    "--out",
                    str(tmp_path / "o"),
                ]
            )
            == 2
        )
        assert "is a folder, not a file" in capsys.readouterr().err
    pytest.importorskip("stemlime_cerberus")
    assert main(["train", "cerberus", "--data", str(tmp_path / "nodata"), "--threads", "-1", "--out", str(tmp_path / "t")]) == 2
    error = capsys.readouterr().err
    assert "(--threads), got -1" in error and "nodata" not in error  # refused before the data was looked at


def test_train_settings_name_their_flags_and_a_seed_beyond_torchs_range_is_refused_before_reading(tmp_path, capsys):
    pytest.importorskip("stemlime_cerberus")
    for arguments, message in (
        (["--seed", "99999999999999999999999"], "(--seed)"),
        (["--remix", "2"], "(--remix)"),
        (["--gain-db", "-3"], "(--gain-db)"),
        (["--instrument-weights", "1,2"], "(--instrument-weights)"),
        (["--instrument-weights", "1,x,1,1"], "--instrument-weights takes one number per instrument"),
        (["--dropout", "1.5"], "(--dropout)"),
        (["--learning-rate", "nan"], "(--learning-rate)"),
        (["--chunk-seconds", "0"], "(--chunk-seconds)"),
    ):
        assert main(["train", "cerberus", "--data", str(tmp_path / "nodata"), *arguments, "--out", str(tmp_path / "t")]) == 2
        error = capsys.readouterr().err
        assert message in error and "unexpected" not in error and "nodata" not in error, error
