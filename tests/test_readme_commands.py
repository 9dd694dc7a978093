"""Every command-line block of the README runs as written (on a short real song), so the front
door never shows a command that fails. The render, 30-second example, pipeline-file and
temporal pipeline blocks run in their own tests (test_render_cli, test_cli, test_temporal_pipeline); the MUSDB18
block runs on .stem.mp4 files built here with ffmpeg."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from conftest import PIECE
from model_support import _model_folder as require_model
from readme import code_block_after, run_commands, doc


@pytest.fixture
def song_folder(tmp_path) -> Path:
    shutil.copy(PIECE / "mixture.wav", tmp_path / "song.wav")
    (tmp_path / "cuts.txt").write_text("# seconds from the excerpt start\n1.0\n2.5\n")
    return tmp_path


needs_spleeter = pytest.mark.skipif(importlib.util.find_spec("stemlime_spleeter") is None, reason="stemlime-spleeter is not installed")
needs_musicnn = pytest.mark.skipif(importlib.util.find_spec("stemlime_musicnn") is None, reason="stemlime-musicnn is not installed")


@needs_musicnn
def test_the_readme_musicnn_tag_commands_run(song_folder):
    require_model("musicnn/MTT_musicnn")
    run_commands(code_block_after("### musicnn", "bash", readme=doc("how-to/plugins.md")), song_folder)
    assert (song_folder / "taggram.png").stat().st_size > 1000


@needs_musicnn
@needs_spleeter
def test_the_readme_spleeter_commands_run(song_folder):
    require_model("spleeter/2stems")
    run_commands(code_block_after("### spleeter", "bash", readme=doc("how-to/plugins.md")), song_folder)
    assert sorted(p.name for p in (song_folder / "stems").glob("*.wav")) == ["accompaniment.wav", "vocals.wav"]
    import json

    assert json.loads((song_folder / "stems" / "stems.json").read_text())["sample_rate"] == 16000  # the input's rate
    assert (song_folder / "out" / "explanation.json").is_file()


@pytest.mark.slow  # 7-8 s: real musicnn and spleeter, several commands
@needs_musicnn
@needs_spleeter
@pytest.mark.skipif(importlib.util.find_spec("stemlime_temporal") is None, reason="stemlime-temporal is not installed")
def test_the_readme_temporal_commands_run(song_folder):
    require_model("spleeter/2stems")
    run_commands(code_block_after("### temporal", "bash", readme=doc("how-to/plugins.md")), song_folder)
    assert (song_folder / "out" / "explanation.json").is_file()


@pytest.mark.slow  # 7-8 s: real musicnn and spleeter, several commands
@needs_musicnn
@needs_spleeter
def test_the_readme_checks_commands_run(song_folder):
    require_model("spleeter/2stems")
    results = run_commands(code_block_after("## Checks", "bash", readme=doc("how-to/configuring.md")), song_folder)
    assert "sanity" in results[0].stdout and "samples for Kendall tau >= 0.95" in results[1].stdout


@needs_musicnn
def test_the_readme_model_commands_run(song_folder):
    require_model("musicnn/MSD_musicnn")
    results = run_commands(code_block_after("### Model files", "bash", readme=doc("how-to/plugins.md")), song_folder)
    assert "musicnn/MSD_musicnn" in results[0].stdout and results[2].stdout.strip()


@pytest.fixture
def ten_second_song(tmp_path) -> Path:
    shutil.copy(PIECE.parent / "musicnn" / "piece1_mixture_16k.wav", tmp_path / "song.wav")
    return tmp_path


@needs_musicnn
@needs_spleeter
def test_the_readme_page_and_scan_commands_run(ten_second_song, monkeypatch):
    require_model("spleeter/2stems")
    import json

    run_commands(code_block_after("# Tag a song", "bash", 0, readme=doc("tutorials/song-scan.md")), ten_second_song)
    page = (ten_second_song / "out" / "index.html").read_text()
    assert page.count("<audio") == 6 and "data:audio/wav;base64," in page, "the excerpt, 3 labels, 2 stems; the last command embedded them"
    run_commands(code_block_after("# Tag a song", "bash", 1, readme=doc("tutorials/song-scan.md")), ten_second_song)
    scan = json.loads((ten_second_song / "scan" / "scan.json").read_text())
    assert scan["label"] == "female vocalists" and len(scan["snippets"]) == 3  # 10 s: three 3-s frames
    monkeypatch.chdir(ten_second_song)
    namespace: dict = {}
    exec(code_block_after("# Tag a song", "python", 0, readme=doc("tutorials/song-scan.md")), namespace)
    assert namespace["scan"].verdict() == scan["verdict"], "Python and the command line scan alike"


@needs_musicnn
def test_the_readme_musdb18_stem_file_commands_run(tmp_path):
    """The 'MUSDB18 as it ships' block on two .stem.mp4 tracks built from piece1_16k, named as its CSV names them."""
    import csv
    import io
    import json

    from stemfile_support import make_stem_file

    require_model("musicnn/MTT_musicnn")
    table = code_block_after("### MUSDB18 as it ships", "csv", readme=doc("how-to/many-tracks.md"))
    (tmp_path / "genres.csv").write_text(table)
    tracks = [row["track"] for row in csv.DictReader(io.StringIO(table))]
    first = make_stem_file(tmp_path / "musdb18" / f"{tracks[0]}.stem.mp4")
    for track in tracks[1:]:
        shutil.copy(first, tmp_path / "musdb18" / f"{track}.stem.mp4")
    run_commands(
        code_block_after("### MUSDB18 as it ships", "bash", readme=doc("how-to/many-tracks.md")), tmp_path, in_process=("explain-dataset",)
    )
    out = tmp_path / "musdb18-explained"
    assert json.loads((out / "run.json").read_text())["tracks"]["explained"] == len(tracks)
    assert json.loads((out / "global.json").read_text())["metadata"]["genre"].keys() == {"Pop/Rock", "Jazz"}
    assert (out / "metadata-genre.png").is_file() and "metadata-genre.png" in (out / "index.html").read_text()
