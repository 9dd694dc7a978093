"""Code blocks of the README, so that the tests run exactly what users read."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def code_block_after(heading_text: str, language: str, nth: int = 0, readme: Path = README) -> str:
    """The nth ``language`` code block after the first line that contains ``heading_text``
    (in the project's README, or in ``readme``)."""
    text = readme.read_text()
    start = text.index(heading_text)
    blocks = re.findall(rf"```{language}\n(.*?)```", text[start:], flags=re.S)
    return blocks[nth]


def run_commands(block: str, cwd: Path) -> list[subprocess.CompletedProcess]:
    """Run each ``stemlime ...`` line of a README bash block (continuation lines joined,
    comments stripped) in ``cwd``; every one must succeed."""
    from conftest import stemlime_cli

    results = []
    for line in block.replace("\\\n", " ").splitlines():
        command = line.split("  #")[0].strip()
        if not command:
            continue
        words = shlex.split(command)
        assert words[0] == "stemlime", command
        result = stemlime_cli(*words[1:], cwd=cwd)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        results.append(result)
    return results
