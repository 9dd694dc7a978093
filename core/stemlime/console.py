"""What reaches the user's console: native libraries' own prints kept off it.

C libraries (FluidSynth, GLib) write diagnostics straight to file descriptor 2, past Python's
``sys.stderr``; a command's console then shows ``** CRITICAL **`` lines next to stemlime's one
clear message. :func:`captured_stderr` collects them instead, so that the caller can put the
useful part into its own message.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator

import attrs


@attrs.define
class Captured:
    """The text written to file descriptor 2 inside a :func:`captured_stderr` block (after it ends)."""

    text: str = ""

    def lines(self, containing: str = "") -> list[str]:
        return [line.strip() for line in self.text.splitlines() if containing in line and line.strip()]


@contextlib.contextmanager
def captured_stderr() -> Iterator[Captured]:
    """Collect what native code writes to file descriptor 2 during the block (Python's own
    ``sys.stderr`` is flushed first and keeps working: it writes to the same descriptor)."""
    captured = Captured()
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # no real stderr (a notebook, a test's capture): nothing to redirect
        descriptor = 2
    sys.stderr.flush()
    saved = os.dup(descriptor)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), descriptor)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, descriptor)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")


__all__ = ["Captured", "captured_stderr"]
