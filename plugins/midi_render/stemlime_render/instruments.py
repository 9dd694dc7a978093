"""General MIDI instrument classes: which programs make a piano, a guitar, a bass, ... stem.

Programs are 0-based (0 = Acoustic Grand Piano), as in pretty_midi and the MIDI bytes.
"""

from __future__ import annotations

from stemlime.plugin import UsageError
from stemlime.plugin import closest_match

# GM families (16 of 8 programs each), with two departures that make stems people name:
# the string ensembles 48-51 and the orchestra hit 55 join "strings", and the voice patches
# 52-54 (choir aahs, voice oohs, synth voice) form "vocals".
_FAMILIES = [
    ("piano", range(0, 8)),
    ("chromatic_percussion", range(8, 16)),
    ("organ", range(16, 24)),
    ("guitar", range(24, 32)),
    ("bass", range(32, 40)),
    ("strings", [*range(40, 52), 55]),
    ("vocals", range(52, 55)),
    ("brass", range(56, 64)),
    ("reed", range(64, 72)),
    ("pipe", range(72, 80)),
    ("synth_lead", range(80, 88)),
    ("synth_pad", range(88, 96)),
    ("synth_effects", range(96, 104)),
    ("ethnic", range(104, 112)),
    ("percussive", range(112, 120)),
    ("sound_effects", range(120, 128)),
]
CLASS_OF_PROGRAM = {program: name for name, programs in _FAMILIES for program in programs}
DRUMS = "drums"
CLASSES = tuple(name for name, _ in _FAMILIES[:6]) + (DRUMS,) + tuple(name for name, _ in _FAMILIES[6:])

# The classes the arrangement generator plays, and the programs it draws for each. Vocals are
# sung by espeak-ng by default; their GM patches are used only with vocals="soundfont".
GENERATOR_PROGRAMS = {
    "piano": tuple(range(0, 8)),
    "guitar": tuple(range(24, 32)),
    "bass": tuple(range(32, 40)),
    "strings": (40, 41, 42, 44, 45, 48, 49, 50, 51),  # the bowed and ensemble strings; no harp or timpani
    DRUMS: (0,),  # the standard kit (bank 128)
    "vocals": (52, 53, 54),
}
GENERATOR_CLASSES = tuple(GENERATOR_PROGRAMS)


def instrument_class(program: int, is_drum: bool) -> str:
    """The class (stem name) of a GM program; every drum track is ``drums``."""
    if is_drum:
        return DRUMS
    if not 0 <= int(program) <= 127:
        raise UsageError(f"MIDI program {program} is outside 0..127")
    return CLASS_OF_PROGRAM[int(program)]


def parse_classes(text: str | list[str] | tuple[str, ...], allowed: tuple[str, ...] = GENERATOR_CLASSES) -> tuple[str, ...]:
    """``"piano,guitar,bass"`` -> ("piano", "guitar", "bass"), checked against ``allowed``."""
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise UsageError(f"name at least one instrument class; choose from {', '.join(allowed)}")
    for name in names:
        if name not in allowed:
            raise UsageError(f"unknown instrument class {name!r}{closest_match(name, allowed)}. Classes: {', '.join(allowed)}.")
    if len(set(names)) != len(names):
        raise UsageError(f"instrument class listed twice in {','.join(names)}")
    return tuple(names)
