"""FluidSynth through pyfluidsynth: one instrument's notes -> float32 mono audio.

Rendering is offline and deterministic: reverb and chorus are off (they would also smear one
stem's sound past its notes), one synthesis thread, float output (no 16-bit dither), events
placed at exact sample positions.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path
from typing import Any, Iterable

import attrs
import numpy as np

from stemlime.plugin import StemlimeError, UsageError, captured_stderr

DRUM_CHANNEL = 9  # MIDI channel 10, where General MIDI plays the drum kits
DRUM_BANK = 128  # the bank a SoundFont keeps its drum kits in
SYNTH_GAIN = 0.2  # FluidSynth's own default: headroom for chords; stems are scaled afterwards
OTHER_SOUNDFONTS = "e.g. Debian's fluid-soundfont-gm: /usr/share/sounds/sf2/FluidR3_GM.sf2"


def default_soundfont() -> Path:
    """TimGM6mb.sf2, the small General MIDI soundfont that the pretty_midi wheel carries."""
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise StemlimeError(
            f"pretty_midi's TimGM6mb.sf2 is missing from {path.parent}; reinstall pretty_midi "
            f"or give another soundfont ({OTHER_SOUNDFONTS})"
        )
    return path


@functools.lru_cache(maxsize=1)
def _fluidsynth() -> Any:
    """The pyfluidsynth module, with ``fluid_synth_write_float`` bound (pyfluidsynth binds only 16-bit output)."""
    try:
        import fluidsynth
    except ImportError as error:  # pyfluidsynth raises ImportError when libfluidsynth is not on the system
        raise StemlimeError(
            f"FluidSynth is not usable ({error}). Install the Debian package libfluidsynth3 "
            "(sudo apt-get install libfluidsynth3; `make install` does it as root) and the Python package pyfluidsynth."
        ) from None
    write_float = fluidsynth._fl.fluid_synth_write_float
    write_float.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    write_float.restype = ctypes.c_int
    fluidsynth.stemlime_write_float = write_float
    return fluidsynth


@attrs.frozen
class Event:
    """One MIDI event of an instrument at a sample position."""

    sample: int
    order: int  # among events at the same sample: controls (0), note-offs (1), note-ons (2)
    kind: str  # "cc", "bend", "off", "on"
    number: int = 0  # controller number or key
    value: int = 0  # controller value, bend (-8192..8191) or velocity


def instrument_events(instrument: Any, sample_rate: int, n_samples: int) -> list[Event]:
    """The note, control-change and pitch-bend events of a ``pretty_midi.Instrument`` in samples."""
    events = []
    position = lambda seconds: int(round(seconds * sample_rate))
    for change in instrument.control_changes:
        events.append(Event(position(change.time), 0, "cc", change.number, change.value))
    for bend in instrument.pitch_bends:
        events.append(Event(position(bend.time), 0, "bend", 0, bend.pitch))
    for note in instrument.notes:
        start, end = position(note.start), position(note.end)
        if start >= n_samples or end <= start:
            continue  # after the end of the render, or shorter than a sample
        events.append(Event(start, 2, "on", note.pitch, max(1, min(127, note.velocity))))
        events.append(Event(end, 1, "off", note.pitch))
    return sorted(events, key=lambda e: (e.sample, e.order))


SOUNDFONT_FORMS = (b"sfbk", b"DLS ")  # the RIFF forms FluidSynth loads: SoundFont 2, and DLS with libinstpatch


def _check_soundfont_header(path: Path) -> None:
    """Refuse a file that is not a SoundFont before FluidSynth reads it: FluidSynth prints
    CRITICAL lines and errors of its own (from C, past any Python warning filter) first."""
    with open(path, "rb") as handle:
        header = handle.read(12)
    if header[:4] != b"RIFF" or header[8:12] not in SOUNDFONT_FORMS:
        raise UsageError(
            f"soundfont {path} is not a SoundFont (.sf2): it does not start as one (RIFF....sfbk); "
            f"give a .sf2 file ({OTHER_SOUNDFONTS}) or leave --soundfont out for TimGM6mb.sf2"
        )


class Synthesizer:
    """A FluidSynth instance with one soundfont loaded, rendering one instrument at a time."""

    def __init__(self, soundfont: str | Path | None = None, sample_rate: int = 44100):
        self.soundfont = Path(soundfont).expanduser() if soundfont is not None else default_soundfont()
        from stemlime.plugin import file_problem

        problem = file_problem(self.soundfont, "soundfont")
        if problem:
            raise StemlimeError(f"{problem}; give an existing .sf2 file ({OTHER_SOUNDFONTS}) or leave it out for TimGM6mb.sf2")
        _check_soundfont_header(self.soundfont)
        if not 8000 <= int(sample_rate) <= 96000:
            raise UsageError(f"sample rate {sample_rate} Hz: FluidSynth renders at 8000 to 96000 Hz (--sample-rate)")
        self.sample_rate = int(sample_rate)
        fluidsynth = _fluidsynth()
        self._write_float = fluidsynth.stemlime_write_float
        self.synth = fluidsynth.Synth(
            gain=SYNTH_GAIN,
            samplerate=float(self.sample_rate),
            channels=16,
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.cpu-cores": 1, "synth.polyphony": 512},
        )
        with captured_stderr() as said:  # FluidSynth and GLib print their diagnostics straight to stderr
            self.sfid = self.synth.sfload(str(self.soundfont))
        if self.sfid < 0:
            self.close()
            reasons = [line.removeprefix("fluidsynth: error: ") for line in said.lines("fluidsynth: error:")]
            reason = f" (FluidSynth: {reasons[0]})" if reasons else ""
            raise StemlimeError(f"FluidSynth cannot load {self.soundfont} as a SoundFont (.sf2){reason}; is the file complete?")

    def close(self) -> None:
        if getattr(self, "synth", None) is not None:
            self.synth.delete()
            self.synth = None

    def __enter__(self) -> "Synthesizer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def preset_name(self, bank: int, program: int) -> str | None:
        """The soundfont's name for a preset, or None when it has none."""
        return self.synth.sfpreset_name(self.sfid, bank, program)

    def select(self, program: int, is_drum: bool) -> tuple[int, int, str]:
        """Select the preset for an instrument: (channel, bank, preset name) or an error naming what is missing.

        A drum track asks for a kit by its program; General MIDI level 1 has only the standard
        kit (0), which stands in for kits the soundfont lacks.
        """
        channel, bank = (DRUM_CHANNEL, DRUM_BANK) if is_drum else (0, 0)
        name = self.preset_name(bank, program)
        if name is None and is_drum:
            program, name = 0, self.preset_name(bank, 0)
        if name is None:
            from .instruments import instrument_class

            what = "a drum kit (bank 128)" if is_drum else f"program {program} ({instrument_class(program, False)})"
            raise StemlimeError(
                f"soundfont {self.soundfont.name} has no preset for {what}; choose other instruments "
                f"or give a complete General MIDI soundfont ({OTHER_SOUNDFONTS})"
            )
        if self.synth.program_select(channel, self.sfid, bank, program) != 0:
            raise StemlimeError(f"FluidSynth could not select bank {bank} program {program} of {self.soundfont.name}")
        return channel, bank, name

    def render(self, instrument: Any, n_samples: int) -> np.ndarray:
        """A ``pretty_midi.Instrument`` as float32 mono audio of ``n_samples`` samples (what sounds past the end is cut)."""
        self.synth.system_reset()  # no notes, controllers or programs left from the previous instrument
        channel, _, _ = self.select(int(instrument.program), bool(instrument.is_drum))
        left = np.zeros(n_samples, dtype=np.float32)
        right = np.zeros(n_samples, dtype=np.float32)
        position = 0
        for event in instrument_events(instrument, self.sample_rate, n_samples) + [Event(n_samples, 3, "end")]:
            target = min(event.sample, n_samples)
            if target > position:
                self._write(left, right, position, target - position)
                position = target
            if event.kind == "on":
                self.synth.noteon(channel, event.number, event.value)
            elif event.kind == "off":
                self.synth.noteoff(channel, event.number)
            elif event.kind == "cc":
                self.synth.cc(channel, event.number, event.value)
            elif event.kind == "bend":
                self.synth.pitch_bend(channel, event.value)
        self.synth.system_reset()
        return (left + right) * np.float32(0.5)

    def _write(self, left: np.ndarray, right: np.ndarray, offset: int, count: int) -> None:
        status = self._write_float(self.synth.synth, count, left.ctypes.data, offset, 1, right.ctypes.data, offset, 1)
        if status != 0:
            raise StemlimeError("FluidSynth failed to render audio")


def render_instruments(instruments: Iterable[Any], synthesizer: Synthesizer, n_samples: int) -> np.ndarray:
    """The sum of several instruments rendered one at a time (float32 mono)."""
    total = np.zeros(n_samples, dtype=np.float32)
    for instrument in instruments:
        total += synthesizer.render(instrument, n_samples)
    return total
