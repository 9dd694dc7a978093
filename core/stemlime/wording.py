"""Words for counts in what stemlime prints and renders."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 snippet``, ``0 snippets``, ``3 snippets``: the count and the noun in its number
    (``plural_noun`` where adding an s is wrong). Also the report pages' ``plural`` filter."""
    return f"{count} {noun if count == 1 else plural_noun or noun + 's'}"
