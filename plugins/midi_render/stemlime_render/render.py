"""MIDI -> stems -> a folder in the oracle layout (``<stem>.wav``, ``mixture.wav``, ``metadata.json``).

Stems are rendered one at a time (FluidSynth for instruments, espeak-ng for a sung ``vocals``
stem), scaled by their gains, and the mixture is their float32 sum. One common factor then
brings the mixture's peak to ``PEAK``: the stems still sum to the mixture exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import attrs
import numpy as np

from stemlime.plugin import ResultFolder, write_wav
from stemlime.plugin import StemlimeError, UsageError

from .instruments import instrument_class
from .synth import Synthesizer, render_instruments
from .voice import DEFAULT_VOICE, sing

PEAK = 0.9  # the mixture's peak amplitude after normalisation (about -1 dBFS)
RELEASE_SECONDS = 1.0  # what a MIDI file's render keeps after its last note ends (release tails)
VOCALS = ("espeak", "soundfont")
STEMS_BY = ("class", "track")
FADE_OUT_SECONDS = 0.02  # at the very end of the render: no click where notes are cut
SUNG_GAIN = 0.3  # brings espeak-ng's near-full-scale speech to the level of FluidSynth's instruments (gain 0.2)
KIND = "song"  # the kind of result folder a render writes (stemlime.plugin.ResultFolder)
LEVEL_DB = -24.0  # with normalize=True: every stem's RMS over its sounding samples before its gain


@attrs.frozen
class Rendering:
    """Rendered stems (float32 mono, equal length) and their mixture, at ``sample_rate`` Hz."""

    stems: dict[str, np.ndarray]
    mixture: np.ndarray
    sample_rate: int
    metadata: dict[str, Any]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.mixture) / self.sample_rate

    def save(self, folder: str | Path, force: bool = False, *, inputs: Sequence[Any] = (), within: str | Path | None = None) -> Path:
        """Write ``<stem>.wav`` (32-bit float), ``mixture.wav`` and ``metadata.json`` into ``folder``,
        replacing it whole as every stemlime result (:class:`stemlime.plugin.ResultFolder`, kind
        ``song``): no file of an earlier render stays behind. A folder stemlime did not write is
        replaced only with ``force``; ``inputs`` (the MIDI file, the soundfont) never; ``within``:
        the dataset folder this piece belongs to. Returns the folder.
        """
        with ResultFolder(folder, kind=KIND, inputs=inputs, force=force, within=within, data=True) as staging:
            for name, audio in [*self.stems.items(), ("mixture", self.mixture)]:
                write_wav(staging / f"{name}.wav", audio, self.sample_rate)
            (staging / "metadata.json").write_text(json.dumps(self.metadata, indent=1))
        return Path(folder)


def read_midi(source: Any) -> Any:
    """A ``pretty_midi.PrettyMIDI`` from a path or as it is; a clear error for a file that is not MIDI."""
    import pretty_midi

    if isinstance(source, pretty_midi.PrettyMIDI):
        return source
    from stemlime.plugin import file_problem

    path = Path(source)
    problem = file_problem(path, "MIDI file")
    if problem:
        raise StemlimeError(problem)
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # mido and pretty_midi raise many kinds (OSError, EOFError, KeyError, ValueError)
        raise StemlimeError(
            f"cannot read {path} as a MIDI file ({type(error).__name__}: {error}); is it a complete Standard MIDI File (.mid)?"
        ) from None


def _stem_names(midi: Any, stems_by: str) -> list[str]:
    """The stem each instrument goes to: its class, or its track (name and index, unique)."""
    if stems_by == "class":
        return [instrument_class(i.program, i.is_drum) for i in midi.instruments]
    names = []
    for index, instrument in enumerate(midi.instruments):
        label = "".join(c if c.isalnum() else "_" for c in instrument.name.strip().lower()).strip("_")
        names.append(f"{index:02d}_{label or instrument_class(instrument.program, instrument.is_drum)}")
    return names


def _lyrics_for(notes: list[Any], lyrics: list[Any]) -> list[str]:
    """The lyric that starts with each note (within 50 ms), else "la"."""
    times = np.array([lyric.time for lyric in lyrics])
    words = []
    for note in notes:
        nearest = int(np.argmin(np.abs(times - note.start))) if len(times) else -1
        words.append(lyrics[nearest].text.strip() or "la" if nearest >= 0 and abs(times[nearest] - note.start) < 0.05 else "la")
    return words


def _level_db(audio: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    return round(float(20 * np.log10(rms)), 2) if rms > 0 else float("-inf")


def render_midi(
    source: Any,
    sample_rate: int = 44100,
    duration: float | None = None,
    soundfont: str | Path | None = None,
    stems_by: str = "class",
    vocals: str = "espeak",
    voice: str = DEFAULT_VOICE,
    gains_db: dict[str, float] | None = None,
    normalize: bool = False,
) -> Rendering:
    """Render MIDI (a path or a ``pretty_midi.PrettyMIDI``) into stems.

    Parameters
    ----------
    sample_rate : Hz (FluidSynth: 8000..96000).
    duration : seconds to render (None: to the last note's end plus 1 s of release).
    soundfont : a .sf2 file (None: TimGM6mb.sf2 from pretty_midi).
    stems_by : "class" (piano, guitar, bass, drums, strings, vocals, ...) or "track" (one per instrument).
    vocals : "espeak" sings the voice-class parts (GM 52-54) with espeak-ng, one lyric per note;
        "soundfont" plays them with the soundfont's voice patches.
    gains_db : per-stem gain in dB applied before mixing (the generator's loudness variation).
    normalize : first bring every stem to the same loudness (RMS over its sounding samples), so
        that ``gains_db`` alone sets the balance; off for MIDI files, whose own balance is kept.
    """
    if stems_by not in STEMS_BY:
        raise UsageError(f"stems by {stems_by!r}: choose one of {', '.join(STEMS_BY)}")
    if vocals not in VOCALS:
        raise UsageError(f"vocals={vocals!r}: choose one of {', '.join(VOCALS)}")
    midi = read_midi(source)
    playing = [i for i in midi.instruments if i.notes]
    if not playing:
        raise StemlimeError("the MIDI holds no notes to render")
    end = max(note.end for i in playing for note in i.notes)
    duration = float(end + RELEASE_SECONDS if duration is None else duration)
    if not np.isfinite(duration) or duration <= 0:
        raise UsageError(f"duration must be a positive number of seconds, got {duration:g}")
    check_fits_in_memory(duration, sample_rate, len(set(_stem_names(midi, stems_by))) + 1)
    n_samples = int(round(duration * sample_rate))
    names = dict(zip(map(id, midi.instruments), _stem_names(midi, stems_by)))
    groups: dict[str, list[Any]] = {}
    for instrument in playing:
        groups.setdefault(names[id(instrument)], []).append(instrument)

    stems: dict[str, np.ndarray] = {}
    described: dict[str, Any] = {}
    with Synthesizer(soundfont, sample_rate) as synthesizer:
        for name, instruments in groups.items():
            sung = vocals == "espeak" and all(instrument_class(i.program, i.is_drum) == "vocals" for i in instruments)
            entries = []
            if sung:
                audio = np.zeros(n_samples, dtype=np.float32)
                for instrument in instruments:
                    words = _lyrics_for(instrument.notes, midi.lyrics)
                    audio += sing(instrument.notes, words, sample_rate, n_samples, voice) * np.float32(SUNG_GAIN)
                    entries.append(
                        {"name": instrument.name, "program": None, "is_drum": False, "synth": f"espeak-ng {voice}", "lyrics": words}
                    )
            else:
                audio = render_instruments(instruments, synthesizer, n_samples)
                for instrument in instruments:
                    _, bank, preset = synthesizer.select(int(instrument.program), bool(instrument.is_drum))
                    entries.append(
                        {
                            "name": instrument.name,
                            "program": int(instrument.program),
                            "bank": bank,
                            "is_drum": bool(instrument.is_drum),
                            "synth": f"fluidsynth {preset.strip()}",
                        }
                    )
            gain = float((gains_db or {}).get(name, 0.0))
            if normalize:
                sounding = audio[np.abs(audio) > 1e-4]
                level = _level_db(sounding)
                gain += LEVEL_DB - level if np.isfinite(level) else 0.0
            stems[name] = audio * np.float32(10 ** (gain / 20))
            notes = sorted((round(n.start, 6), round(n.end, 6), int(n.pitch), int(n.velocity)) for i in instruments for n in i.notes)
            described[name] = {"instruments": entries, "gain_db": round(gain, 3), "notes": [list(n) for n in notes if n[0] < duration]}
        soundfont_path = str(synthesizer.soundfont)

    fade = min(int(FADE_OUT_SECONDS * sample_rate), n_samples)
    envelope = np.linspace(1, 0, fade, dtype=np.float32)
    for audio in stems.values():
        audio[n_samples - fade :] *= envelope
    mixture = np.zeros(n_samples, dtype=np.float32)
    for audio in stems.values():
        mixture += audio
    peak = float(np.abs(mixture).max())
    scale = np.float32(PEAK / peak) if peak > 0 else np.float32(1.0)
    stems = {name: audio * scale for name, audio in stems.items()}
    mixture = np.zeros(n_samples, dtype=np.float32)
    for audio in stems.values():  # the sum of the scaled stems, not the scaled sum: exact in float32
        mixture += audio
    for name, audio in stems.items():
        described[name].update(rms_db=_level_db(audio), peak=round(float(np.abs(audio).max()), 6))
    metadata = {
        "sample_rate": int(sample_rate),
        "duration": duration,
        "soundfont": soundfont_path,
        "stems_by": stems_by,
        "vocals": vocals,
        "normalization_gain": float(scale),
        "mixture": {"rms_db": _level_db(mixture), "peak": round(float(np.abs(mixture).max()), 6)},
        "stems": described,
    }
    return Rendering(stems, mixture, int(sample_rate), metadata)


BYTES_PER_SAMPLE = 4 * 3  # float32, and about twice that again in synthesis buffers and mixing
MEMORY_SHARE = 0.5  # the most of the memory available now that a rendering may plan to use


def available_memory_bytes() -> int:
    """Memory available to this process now (Linux: MemAvailable), in bytes."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_fits_in_memory(duration: float, sample_rate: int, n_signals: int) -> None:
    """Refuse, before any work, a rendering of ``n_signals`` signals of ``duration`` seconds at
    ``sample_rate`` Hz that would not fit in half the memory available now."""
    budget = MEMORY_SHARE * available_memory_bytes()
    needed = float(duration) * int(sample_rate) * BYTES_PER_SAMPLE * max(1, n_signals)
    if needed > budget:
        most = budget / (int(sample_rate) * BYTES_PER_SAMPLE * max(1, n_signals))
        raise UsageError(
            f"rendering {duration:g} s at {sample_rate} Hz ({n_signals} signals) needs about {needed / 2**30:.1f} GiB, "
            f"more than this machine can hold now ({budget / 2**30:.1f} GiB usable): render at most {most:.0f} s "
            "at a time, or a lower --sample-rate"
        )


def render_song(
    seed: int,
    duration: float,
    instruments: str | tuple[str, ...] = ("piano", "guitar", "bass", "drums"),
    sample_rate: int = 44100,
    soundfont: str | Path | None = None,
    vocals: str = "espeak",
    voice: str = DEFAULT_VOICE,
    distinct_parts: bool = False,
) -> Rendering:
    """Generate a seeded arrangement (``arrange.generate``, with ``distinct_parts``) and render
    it: one stem per instrument class."""
    from .arrange import check_duration, generate, parse_classes

    check_fits_in_memory(check_duration(duration), sample_rate, len(parse_classes(instruments)) + 1)
    arrangement = generate(seed, duration, instruments, distinct_parts)
    rendering = render_midi(
        arrangement.midi, sample_rate, arrangement.duration, soundfont, "class", vocals, voice, arrangement.gains_db, normalize=True
    )
    metadata = {"arrangement": arrangement.to_dict(), **rendering.metadata}
    return attrs.evolve(rendering, metadata=metadata)
