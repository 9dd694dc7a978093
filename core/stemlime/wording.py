"""Words in what stemlime prints and renders: counts, and the closest of the names a user could have meant."""

from __future__ import annotations

import difflib
import re
from typing import Iterable


def plural(count: int, noun: str) -> str:
    """``1 snippet``, ``0 snippets``, ``3 snippets``: the count and the noun (plural: an s
    added) in its number. Also the report pages' ``plural`` filter."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def closest_match(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or '' when none is close."""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # terminal colour and cursor codes, as libraries print them


def plain_text(text: str) -> str:
    """``text`` without terminal escape codes (colours some libraries put in their messages)."""
    return _ANSI.sub("", str(text))


def one_line(text: str) -> str:
    """A library's multi-line message as one line of plain text."""
    return " ".join(plain_text(text).split())
