"""Notes that a separator transcribes, and writing them as MIDI files.

A separator that also transcribes (Cerberus) declares the optional slot ``transcribe(audio,
sample_rate) -> {stem: Part}``. A :class:`Part` is one stem's notes, times in seconds from the
start of the audio it was given. ``stemlime separate --midi`` writes each part beside its WAV
as ``<stem>.mid`` (through :func:`stemlime.separation.write_stems`).

pretty_midi is imported only when a file is written: the core does not depend on it (the
plugins that transcribe do).
"""

from __future__ import annotations

from pathlib import Path

import attrs

from .errors import StemlimeError


@attrs.frozen
class Note:
    """One note: ``start`` and ``end`` in seconds, MIDI ``pitch`` (a GM percussion key for
    drums) and ``velocity`` (1-127)."""

    start: float = attrs.field(converter=float)
    end: float = attrs.field(converter=float)
    pitch: int = attrs.field(converter=int)
    velocity: int = attrs.field(default=100, converter=int)


@attrs.frozen
class Part:
    """The notes of one stem, with the General MIDI ``program`` (0-based) that plays them back,
    or ``is_drum`` for the percussion channel."""

    notes: tuple[Note, ...] = attrs.field(converter=tuple)
    program: int = 0
    is_drum: bool = False


def write_midi(path: str | Path, part: Part, name: str = "") -> Path:
    """Write ``part`` as a one-track Standard MIDI File at ``path``."""
    try:
        import pretty_midi
    except ImportError:
        raise StemlimeError("writing MIDI files needs pretty_midi: pip install pretty_midi") from None
    midi = pretty_midi.PrettyMIDI()
    track = pretty_midi.Instrument(program=int(part.program), is_drum=bool(part.is_drum), name=name)
    for note in part.notes:
        track.notes.append(pretty_midi.Note(int(note.velocity), int(note.pitch), float(note.start), float(note.end)))
    midi.instruments.append(track)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.write(str(path))
    return path
