"""stemlime-render: MIDI rendered into separated stems, for explanations with known true stems.

FluidSynth (pyfluidsynth + Debian's libfluidsynth3) plays the instruments from a General MIDI
soundfont (TimGM6mb.sf2 from pretty_midi by default); espeak-ng sings the vocals. A seeded
generator writes plausible arrangements. Everything lands in the oracle layout: ``<stem>.wav``,
``mixture.wav`` (their exact sum) and ``metadata.json``.

    from stemlime_render import render_song, render_midi
    render_song(seed=3, duration=8, instruments="piano,bass,drums,vocals").save("song/")

The names below are imported on first use, so that the plugin's entry point stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "render_song": "render",
    "render_midi": "render",
    "read_midi": "render",
    "Rendering": "render",
    "generate": "arrange",
    "Arrangement": "arrange",
    "render_dataset": "dataset",
    "Synthesizer": "synth",
    "default_soundfont": "synth",
    "sing": "voice",
    "CLASSES": "instruments",
    "GENERATOR_CLASSES": "instruments",
    "instrument_class": "instruments",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
