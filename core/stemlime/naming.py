"""Safe, distinct file names for labels, stems and components: any text in, a name every filesystem takes out.

safe_names(["rock/pop", "rock_pop", "Rock_pop"])   # ['rock_pop', 'rock_pop-2', 'Rock_pop-3']
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

MAX_NAME_BYTES = 200  # ext4 allows 255 bytes per name: room left for "-N" and an extension
KEPT_PUNCTUATION = frozenset(".@_-")  # besides Unicode letters, marks and digits
WINDOWS_RESERVED = frozenset(["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)])


def _truncate(name: str, max_bytes: int) -> str:
    """``name`` cut to at most ``max_bytes`` bytes of UTF-8, never inside a character."""
    encoded = name.encode("utf-8")
    if len(encoded) <= max_bytes:
        return name
    return encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip("._")


def safe_name(text: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A file name (without extension) made from any label, stem or component text.

    Unicode letters, marks and digits are kept (NFC-normalised), as are ``.@_-``; every run of
    other characters (path separators, spaces, control characters, ``<>:"|?*``...) becomes one
    ``_``. Leading dots (hidden files) and leading dashes (read as options) are dropped,
    Windows' reserved device names get a leading ``_``, and the result is at most ``max_bytes``
    bytes of UTF-8. Never empty: text with nothing to keep becomes ``unnamed``.
    """
    text = unicodedata.normalize("NFC", str(text))
    kept = "".join(c if c in KEPT_PUNCTUATION or unicodedata.category(c)[0] in "LMN" else "\0" for c in text)
    name = re.sub("\0+", "_", kept).strip("._").lstrip("-")
    if name.split(".")[0].upper() in WINDOWS_RESERVED:
        name = "_" + name
    return _truncate(name, max_bytes) or "unnamed"


def _collision_key(name: str) -> str:
    # case-insensitive and normalisation-insensitive, as on macOS and Windows filesystems
    return unicodedata.normalize("NFC", name.casefold())


def safe_names(texts: Sequence[str], max_bytes: int = MAX_NAME_BYTES) -> list[str]:
    """One safe, distinct file name per text, in input order (see :func:`safe_name`).

    Names that would collide, even only in letter case, get ``-2``, ``-3``, ... in input order:
    ``["rock/pop", "rock_pop", "Rock_pop"]`` -> ``["rock_pop", "rock_pop-2", "Rock_pop-3"]``.
    Every name, suffix included, fits in ``max_bytes`` bytes of UTF-8.
    """
    taken: set[str] = set()
    names = []
    for text in texts:
        base = safe_name(text, max_bytes)
        name, number = base, 1
        while _collision_key(name) in taken:
            number += 1
            suffix = f"-{number}"
            name = _truncate(base, max_bytes - len(suffix)) + suffix
        taken.add(_collision_key(name))
        names.append(name)
    return names


__all__ = ["MAX_NAME_BYTES", "safe_name", "safe_names"]
