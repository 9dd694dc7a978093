"""Code blocks of the README, so that the tests run exactly what users read."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def code_block_after(heading_text: str, language: str, nth: int = 0) -> str:
    """The nth ``language`` code block after the first line that contains ``heading_text``."""
    text = README.read_text()
    start = text.index(heading_text)
    blocks = re.findall(rf"```{language}\n(.*?)```", text[start:], flags=re.S)
    return blocks[nth]
