"""Nothing lost: what stemlime writes never replaces what it did not write, and never half of it.

Specifications of stemlime.fs and stemlime.naming (safe names, result folders swapped in whole) as users meet
them: ``stemlime separate``, ``Explanation.save`` and ``write_stems``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import stemlime
import stemlime.explanation
from conftest import PIECE, STEMS
from stemlime.cli import main
from stemlime.fs import MARKER, ResultFolder, check_destination
from stemlime.naming import safe_name, safe_names
from stemlime.separation import write_stems


class Loudness:
    """The README's toy tagger (how loud is the input?), under any label names."""

    sample_rate = 16000
    input_seconds = None

    def __init__(self, labels: tuple[str, ...] = ("loud",)):
        self.labels = list(labels)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        loud = np.tanh(10 * np.sqrt((batch**2).mean(axis=1, keepdims=True)))
        return np.repeat(loud, len(self.labels), axis=1)


def explain(audio: Path = PIECE / "mixture.wav", separator: str = "oracle", labels: tuple[str, ...] = ("loud",)):
    pipeline = stemlime.Pipeline(tagger=Loudness(labels), separator=separator)
    return pipeline.explain(str(audio), labels=list(labels), start=1.0, duration=3.0, samples="exhaustive", seed=0, progress=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(destination: Path) -> list[str]:
    """Temporary or set-aside siblings a result folder left next to ``destination``."""
    return sorted(p.name for p in destination.parent.iterdir() if p.name.startswith(f".{destination.name}."))


@pytest.fixture
def song(tmp_path) -> Path:
    """A copy of the test piece: mixture.wav and its true stems in one folder."""
    return Path(shutil.copytree(PIECE, tmp_path / "song", ignore=shutil.ignore_patterns("*.json")))


# ---------------------------------------------------------------------------- separate


def test_separate_never_writes_into_the_folder_of_its_input(song, capsys):
    before = snapshot(song)
    for force in ([], ["--force"]):
        status = main(["separate", str(song / "mixture.wav"), "--separator", "none", "--duration", "1", "--out", str(song), *force])
        assert status == 2
        assert "input" in capsys.readouterr().err
    assert snapshot(song) == before, "the input and its stems are untouched"


def test_separate_refuses_a_folder_of_true_stems(song, tmp_path, capsys):
    stems = tmp_path / "stems"
    stems.mkdir()
    for name in STEMS:
        shutil.move(song / f"{name}.wav", stems / f"{name}.wav")
    before = snapshot(stems)
    status = main(["separate", str(song / "mixture.wav"), "--separator", "none", "--out", str(stems)])
    assert status == 2
    message = capsys.readouterr().err
    assert "did not write" in message and "--force" in message and "choose another output folder" in message
    forced = main(["separate", str(song / "mixture.wav"), "--separator", f"oracle,dir={stems}", "--out", str(stems), "--force"])
    assert forced == 2, "--force never replaces the stems the separator reads"
    assert snapshot(stems) == before


def test_separate_replaces_its_own_earlier_output_and_maps_every_stem(tmp_path, capsys):
    out = tmp_path / "stems"
    assert main(["separate", str(PIECE / "mixture.wav"), "--separator", "oracle", "--duration", "1", "--out", str(out)]) == 0
    assert main(["separate", str(PIECE / "mixture.wav"), "--separator", "none", "--duration", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "mix.wav", "stems.json"], "no stem of the first run is left"
    assert json.loads((out / "stems.json").read_text()) == {"schema": 2, "stems": {"mix": "mix.wav"}, "sample_rate": 16000}
    assert json.loads((out / MARKER).read_text())["kind"] == "stems"
    assert leftovers(out) == []


def test_separate_with_force_replaces_a_folder_that_is_not_an_input(tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["separate", str(PIECE / "mixture.wav"), "--separator", "none", "--duration", "1", "--out", str(out)]) == 2
    assert (out / "notes.txt").read_text() == "mine"
    assert main(["separate", str(PIECE / "mixture.wav"), "--separator", "none", "--duration", "1", "--out", str(out), "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "mix.wav").is_file()


# ---------------------------------------------------------------------------- names


def test_unicode_stems_get_distinct_files_that_keep_their_letters(tmp_path):
    vocals, drums = "ボーカル", "ドラム"
    song = tmp_path / "song"
    for name, stem in ((vocals, "vocals"), (drums, "drums")):
        audio, rate = stemlime.load_audio(PIECE / f"{stem}.wav")
        stemlime.write_wav(song / f"{name}.wav", audio, rate)
    mix = sum(stemlime.load_audio(song / f"{name}.wav")[0] for name in (vocals, drums))
    stemlime.write_wav(song / "mixture.wav", mix, 16000)

    explanation = explain(song / "mixture.wav")
    out = explanation.save(tmp_path / "out")
    files = json.loads((out / "explanation.json").read_text())["files"]
    assert files["components"] == {vocals: f"components/{vocals}.wav", drums: f"components/{drums}.wav"}
    assert all((out / path).is_file() for path in files["components"].values())

    written = write_stems({vocals: mix, drums: mix}, 16000, tmp_path / "stems")
    assert [path.name for path in written.values()] == [f"{vocals}.wav", f"{drums}.wav"]


def test_labels_that_differ_only_in_unsafe_characters_or_case_get_their_own_files():
    assert safe_names(["rock/pop", "rock_pop", "Rock_pop"]) == ["rock_pop", "rock_pop-2", "Rock_pop-3"]


def test_a_safe_name_is_a_plain_file_name_on_every_common_filesystem():
    assert safe_name("../etc/passwd") == "etc_passwd"  # no path, no hidden file
    assert safe_name(".hidden") == "hidden"
    assert safe_name('a<b>c:d"e|f?g*h\\i\x00j\nk') == "a_b_c_d_e_f_g_h_i_j_k"
    assert safe_name("con") == "_con" and safe_name("LPT1.txt") == "_LPT1.txt"  # Windows device names
    assert safe_name("Cafe\u0301") == unicodedata.normalize("NFC", "Café")  # one spelling per name
    assert safe_name("female vocalists") == "female_vocalists"
    assert safe_name("--force") == "force"
    assert safe_name("???") == "unnamed"
    assert safe_names(["a", "A", "a"]) == ["a", "A-2", "a-3"]


def test_long_names_fit_in_the_byte_budget_and_stay_unique():
    long_names = ["ä" * 300, "ä" * 299 + "b", "x" * 300]
    names = safe_names(long_names, max_bytes=200)
    assert len({name.casefold() for name in names}) == 3
    assert all(len(name.encode("utf-8")) <= 200 for name in names)
    assert names[0] == "ä" * 100 and names[1] == "ä" * 99 + "-2", "cut at whole characters, then told apart"


def test_every_label_is_saved_and_explanation_json_maps_it_to_its_file(tmp_path):
    labels = ("rock/pop", "rock_pop", "Rock_pop", "long " + "ä" * 300, "long " + "ä" * 299 + "!")
    explanation = explain(labels=labels)
    out = explanation.save(tmp_path / "out")
    saved = json.loads((out / "explanation.json").read_text())
    assert list(saved) == list(explanation.to_dict()) + ["files", "top_k"], "files and top_k are appended; the other keys keep their order"
    explanations = saved["files"]["explanations"]
    assert list(explanations) == list(labels)
    assert len({path.casefold() for path in explanations.values()}) == len(labels)
    for path in explanations.values():
        assert (out / path).is_file() and len(Path(path).name.encode("utf-8")) <= 255
    assert sorted(p.name for p in (out / "explanations").iterdir()) == sorted(Path(p).name for p in explanations.values())


# ---------------------------------------------------------------------------- result folders


def test_saving_again_into_the_same_folder_leaves_nothing_of_the_earlier_run(tmp_path):
    out = tmp_path / "out"
    first = explain(separator="oracle")
    first.save(out)
    assert len(list((out / "components").iterdir())) == 5
    explain(separator="none").save(out)
    assert [p.name for p in (out / "components").iterdir()] == ["mix.wav"]
    assert list(json.loads((out / "explanation.json").read_text())["files"]["components"]) == ["mix"]
    assert leftovers(out) == []


@pytest.mark.parametrize("interruption", [RuntimeError("disk full"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_a_save_that_fails_half_way_leaves_the_earlier_run_untouched(tmp_path, monkeypatch, interruption):
    out = tmp_path / "out"
    explanation = explain()
    explanation.save(out)
    before = snapshot(out)
    written = []

    def write_two_then_fail(path, audio, rate):
        if len(written) == 2:
            raise interruption
        written.append(path)
        return stemlime.write_wav(path, audio, rate)

    monkeypatch.setattr(stemlime.explanation, "write_wav", write_two_then_fail)
    with pytest.raises(type(interruption)):
        explanation.save(out)
    assert snapshot(out) == before
    assert leftovers(out) == [], "the temporary folder is gone"


def test_an_existing_file_is_never_replaced_by_a_result_folder(tmp_path, capsys):
    target = tmp_path / "result.wav"
    target.write_bytes(b"mine")
    with pytest.raises(stemlime.UsageError, match="is an existing file; choose another output folder"):
        explain().save(target, force=True)
    assert main(["separate", str(PIECE / "mixture.wav"), "--separator", "none", "--out", str(target)]) == 2
    assert target.read_bytes() == b"mine"


def test_a_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch):
    blocker = tmp_path / "result.wav"
    blocker.write_text("")
    with pytest.raises(stemlime.UsageError, match="result.wav is a file"):
        check_destination(blocker / "out")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: let the check see what any other user's run sees
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    try:
        with pytest.raises(stemlime.UsageError, match="no permission to write in"):
            check_destination(locked / "out")
    finally:
        locked.chmod(0o755)


def test_the_explained_audio_is_never_replaced_even_with_force(song):
    explanation = explain(song / "mixture.wav")
    before = snapshot(song)
    with pytest.raises(stemlime.UsageError, match="never replaces its own input"):
        explanation.save(song, force=True)
    assert snapshot(song) == before


def _write_runs(destination: str, run: str, start) -> None:
    """One of two concurrent writers: five complete results, each of 20 files named after the run."""
    start.wait()
    for round_ in range(5):
        with ResultFolder(destination, kind="test") as folder:
            for part in range(20):
                (folder / f"{run}-{part:02d}.txt").write_text(str(round_))
                time.sleep(0.0005)


def test_concurrent_runs_into_one_folder_leave_one_complete_run(tmp_path):
    out = tmp_path / "out"
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    writers = [context.Process(target=_write_runs, args=(str(out), run, start)) for run in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert [writer.exitcode for writer in writers] == [0, 0]
    names = sorted(p.name for p in out.iterdir() if p.name != MARKER)
    assert names in ([f"a-{i:02d}.txt" for i in range(20)], [f"b-{i:02d}.txt" for i in range(20)]), "one run, never a mix"
    assert {(out / name).read_text() for name in names} == {"4"}, "the last result written wins, whole"
    assert leftovers(out) == []
