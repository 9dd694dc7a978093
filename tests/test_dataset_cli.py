"""The README's Many tracks section runs as written: a laptop run (render a small dataset,
explain it with musicnn and a metadata table) and a run on a Ray cluster started with
'ray start --head' and joined with --address auto (the one Ray cluster of this module)."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from readme import code_block_after, run_commands, doc

pytest.importorskip("stemlime_render", reason="stemlime-render is not installed")
pytest.importorskip("stemlime_musicnn", reason="stemlime-musicnn is not installed")

# one Ray cluster at a time: with pytest-xdist, the Ray modules run on one worker, one after the other
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]

RAY = Path(sys.executable).parent / "ray"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_head(line: str, cwd: Path) -> subprocess.Popen:
    """The README's 'ray start --head' with --block, so that the test ends the cluster it started
    by its process id ('ray stop' would stop every Ray process of this user on the machine), on a
    free port, 2 CPUs and no dashboard."""
    words = shlex.split(line.split("  #")[0].split("#")[0])
    assert words == ["ray", "start", "--head"], line
    command = [
        str(RAY),
        *words[1:],
        "--block",
        "--port",
        str(_free_port()),
        "--num-cpus",
        "2",
        "--include-dashboard",
        "false",
        "--disable-usage-stats",
    ]
    head = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    for output in head.stdout:
        if "Ray runtime started" in output:
            return head
        if time.monotonic() > deadline:
            break
    head.terminate()
    raise AssertionError(f"ray start --head did not start: {head.stdout.read() if head.stdout else ''}")


def test_the_readme_many_tracks_commands_run_on_a_laptop_and_on_a_ray_cluster(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'stemlime[ray]')")
    from model_support import musicnn_folder

    musicnn_folder()
    (tmp_path / "band.csv").write_text(code_block_after("# Many tracks", "csv", readme=doc("how-to/many-tracks.md")))
    run_commands(code_block_after("# Many tracks", "bash", readme=doc("how-to/many-tracks.md")), tmp_path)
    out = tmp_path / "data-explained"
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] and run["tracks"]["explained"] == 4 and run["tracks"]["failed"] == 0
    global_explanation = json.loads((out / "global.json").read_text())
    assert global_explanation["tracks"] == 4 and global_explanation["metadata"]["band"].keys() == {"duo", "trio"}
    assert (out / "metadata-band.png").is_file() and (out / "global.png").is_file()

    cluster = code_block_after("# Many tracks", "bash", nth=1, readme=doc("how-to/many-tracks.md")).splitlines()
    assert cluster[0].startswith("ray start --head") and cluster[2].startswith("ray stop")
    head = _start_head(cluster[0], tmp_path)
    try:
        run_commands(cluster[1], tmp_path)
    finally:
        head.terminate()
        head.wait(timeout=60)
    run = json.loads((out / "run.json").read_text())
    assert run["engine"] == "ray" and run["address"] == "auto" and run["tracks"]["replaced"] == 4  # other settings
    assert run["tracks"]["explained"] == 4 and len(run["workers"]) == 2


def test_the_readme_snippets_command_scans_every_track_for_its_top_tag_and_writes_the_pages(tmp_path):
    from model_support import musicnn_folder

    musicnn_folder()
    run_commands(code_block_after("**Snippets and the page.**", "bash", readme=doc("how-to/many-tracks.md")), tmp_path)
    out = tmp_path / "songs-explained"
    global_explanation = json.loads((out / "global.json").read_text())
    assert global_explanation["snippets"] == "best:2" and global_explanation["tracks"] == 2
    assert global_explanation["explanations"] == 4, "6-s tracks: two musicnn windows each"
    page = (out / "index.html").read_text()
    for track in ("piece-00000", "piece-00001"):
        scan = json.loads((out / "tracks" / track / "scan.json").read_text())
        assert scan["label"] == scan["dataset"]["top_tags"][0][0] and len(scan["snippets"]) == 2
        assert f'href="tracks/{track}/index.html"' in page and scan["verdict"] in page
        assert (out / "tracks" / track / "index.html").is_file()
