"""Code blocks of the README and of the documentation pages, so that the tests run exactly what users read.

The README is the front door; most commands live in the docs (``docs/``). A test names the page
a block is on: ``code_block_after("### musicnn", "bash", readme=doc("how-to/plugins.md"))``."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
DOCS = Path(__file__).parents[1] / "docs"


def doc(page: str) -> Path:
    """A documentation page by its path under ``docs/`` (e.g. ``"how-to/plugins.md"``); it must exist."""
    path = DOCS / page
    assert path.is_file(), f"no documentation page {path}"
    return path


def code_block_after(heading_text: str, language: str, nth: int = 0, readme: Path = README) -> str:
    """The nth ``language`` code block after the first line that contains ``heading_text``
    (in the project's README, or in ``readme``: another Markdown file, e.g. :func:`doc`'s)."""
    text = readme.read_text()
    start = text.index(heading_text)
    blocks = re.findall(rf"```{language}\n(.*?)```", text[start:], flags=re.S)
    return blocks[nth]


def run_commands(block: str, cwd: Path, in_process: tuple[str, ...] = ()) -> list[subprocess.CompletedProcess]:
    """Run each ``stemlime ...`` line of a README bash block (continuation lines joined,
    comments stripped) in ``cwd``; every one must succeed. Commands named in ``in_process``
    (e.g. ``("train", "render-dataset")``) run through ``stemlime.cli.main`` in this process,
    saving a Python start-up each; the others run as a user runs them, in a new process."""
    from conftest import stemlime_cli

    results = []
    for line in block.replace("\\\n", " ").splitlines():
        command = line.split("  #")[0].strip()
        if not command:
            continue
        words = shlex.split(command)
        assert words[0] == "stemlime", command
        result = _in_process(words[1:], cwd) if words[1] in in_process else stemlime_cli(*words[1:], cwd=cwd)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        results.append(result)
    return results


def _in_process(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``stemlime ARGUMENTS`` through ``stemlime.cli.main`` with ``cwd`` as the working folder."""
    import contextlib
    import io
    import os

    from stemlime.cli import main

    before = os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(arguments)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["stemlime", *arguments], status, out.getvalue(), err.getvalue())
