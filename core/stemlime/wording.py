"""Words for counts in what stemlime prints and renders."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``1 snippet``, ``0 snippets``, ``3 snippets``: the count and the noun (plural: an s
    added) in its number. Also the report pages' ``plural`` filter."""
    return f"{count} {noun if count == 1 else noun + 's'}"
