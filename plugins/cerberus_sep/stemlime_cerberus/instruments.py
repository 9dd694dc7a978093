"""Instrument sets: names, the short names of variants, General MIDI classes and drum classes.

A Cerberus model separates a fixed, ordered set of instruments (its variant, e.g.
``pno-gtr-bss-drm``) plus ``rest``, everything else in the mix. Slakh2100 assigns each stem to
a class by its MIDI program (0-based, as in pretty_midi): piano 0-7, guitar 24-31, bass 32-39,
drums ``is_drum``; the stems of other programs go to the rest. Drums are transcribed as onsets
of a few General MIDI drum classes.
"""

from __future__ import annotations

from stemlime.plugin import UsageError
from stemlime.plugin import closest_match

REST = "rest"
# Every instrument a model may separate, and its short name in variant names. Pitched classes
# follow the GM program families of stemlime-render (and Slakh's own classes for these four).
SHORT_NAMES = {"piano": "pno", "guitar": "gtr", "bass": "bss", "drums": "drm", "strings": "str"}
INSTRUMENTS = tuple(SHORT_NAMES)
PROGRAMS = {
    "piano": range(0, 8),
    "guitar": range(24, 32),
    "bass": range(32, 40),
    "strings": (*range(40, 52), 55),
}
DRUMS = "drums"
DEFAULT = ("piano", "guitar", "bass", "drums")
NAMED_VARIANTS = ("pno-gtr-bss-drm", "pno-gtr", "pno-gtr-bss")  # the paper's sets

# Drum classes (GM percussion keys) whose onsets are transcribed; each is written back to MIDI
# as its first key. Keys of no class (cowbell, claps, ...) are not transcribed.
DRUM_CLASSES = {
    "kick": (36, 35),
    "snare": (38, 37, 39, 40),
    "hihat": (42, 44, 46),
    "tom": (45, 41, 43, 47, 48, 50),
    "cymbal": (49, 51, 52, 53, 55, 57, 59),
}
DRUM_CLASS_OF_KEY = {key: name for name, keys in DRUM_CLASSES.items() for key in keys}


def class_of_program(program: int, is_drum: bool) -> str | None:
    """The instrument a Slakh / GM stem belongs to (None: it goes to the rest)."""
    if is_drum:
        return DRUMS
    return next((name for name, programs in PROGRAMS.items() if int(program) in programs), None)


def parse_instruments(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"piano,guitar,bass,drums"``, a variant ``"pno-gtr-bss-drm"`` or a sequence -> instrument names in order."""
    if isinstance(text, str):
        words = [w.strip().lower() for w in text.replace("-", ",").split(",") if w.strip()]
    else:
        words = [str(w).strip().lower() for w in text]
    long_names = {short: name for name, short in SHORT_NAMES.items()}
    names = []
    for word in words:
        name = long_names.get(word, word)
        if name not in SHORT_NAMES:
            known = ", ".join(f"{n} ({s})" for n, s in SHORT_NAMES.items())
            raise UsageError(
                f"unknown instrument {word!r}{closest_match(word, list(SHORT_NAMES) + list(long_names))}. Instruments: {known}"
            )
        names.append(name)
    if not names:
        raise UsageError("name at least one instrument, e.g. piano,guitar,bass,drums")
    if len(set(names)) != len(names):
        raise UsageError(f"instrument listed twice in {','.join(words)}")
    return tuple(names)


def variant_name(instruments: tuple[str, ...]) -> str:
    """("piano", "guitar") -> "pno-gtr"."""
    return "-".join(SHORT_NAMES[name] for name in instruments)


def pitched(instruments: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in instruments if name != DRUMS)
