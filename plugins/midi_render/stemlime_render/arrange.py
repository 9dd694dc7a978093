"""A seeded generator of plausible pop arrangements as MIDI (a ``pretty_midi.PrettyMIDI``).

One 4/4 chord per bar from a common progression in a random key, a drum pattern, a bass line on
the chord roots, comping (piano: block chords; guitar: strums or arpeggios; strings: held
chords) and a melody on chord tones and the scale. The melody is sung (the ``vocals`` part,
one word per note, in ``midi.lyrics``) or, without vocals, played by one of the comping parts.
Each part gets its own GM program from its family and its own loudness (velocity and a gain in
dB that the renderer applies), so stems differ in level from piece to piece.

By default piano and guitar comp the same chords in the same register (G3..G5 and E3..E5) and
the bass plays roots in A1..G#2, right under the guitar's low strings: pieces whose parts
overlap a lot, which other experiments and documented numbers rely on. ``distinct_parts=True``
(opt-in) writes arrangements closer to real ones (and to Slakh2100's): each pitched part has its
own role, register and rhythm. With both piano and guitar, one of them (drawn) plays the melody
alone (piano in C5..G6, guitar in G4..D6) and the other comps: piano from C4 up (from A2 under
a guitar lead; block chords with sevenths, broken chords, or arpeggios), guitar from A2 up (power
chords, a syncopated strum, or a picked riff); the bass walks from E1 up (roots in E1..D#2) with
octave leaps and approach notes.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from stemlime.plugin import UsageError, whole_number

from .instruments import DRUMS, GENERATOR_PROGRAMS, parse_classes
from .voice import WORDS

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Chord progressions as scale degrees (0 = tonic), one chord per bar.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 5), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4)),
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 42, 46, 49, 51
# Drum patterns on a grid of 8 eighth notes per bar: (key, steps).
DRUM_PATTERNS = (
    ((KICK, (0, 4)), (SNARE, (2, 6)), (CLOSED_HAT, tuple(range(8)))),
    ((KICK, (0, 3, 4)), (SNARE, (2, 6)), (CLOSED_HAT, tuple(range(8)))),
    ((KICK, (0, 5)), (SNARE, (2, 6)), (RIDE, (0, 2, 4, 6)), (OPEN_HAT, (7,))),
    ((KICK, (0, 2, 4, 6)), (SNARE, (2, 6)), (OPEN_HAT, (1, 3, 5, 7))),
)
GAIN_DB = (-6.0, 0.0)  # each part's level in dB around the common loudness the renderer sets
LEAD_GAIN_DB = (2.0, 6.0)  # the sung lead sits above the band, as in produced pop
MELODY_RANGE = (53, 63)  # F3..D#4 (175..311 Hz): the top of espeak-ng's pitch range (about 113..305 Hz)
# distinct_parts: registers (lowest MIDI key of a part's voicing, or its range) that keep the parts apart
DISTINCT_MELODY_RANGES = {"piano": (72, 91), "guitar": (67, 86)}  # C5..G6, G4..D6
DISTINCT_COMPING_LOW = {"piano": 60, "piano_under_guitar": 45, "guitar": 45, "strings": 55}  # C4 (A2 under a guitar lead), A2, G3
WALKING_BASS_LOW = 28  # E1: roots in E1..D#2


@attrs.frozen
class Arrangement:
    """A generated piece: the MIDI, its musical facts, and each part's gain in dB."""

    midi: Any  # pretty_midi.PrettyMIDI; instrument names are the classes (stems)
    seed: int
    duration: float  # seconds
    tempo: float  # beats per minute
    key: str
    mode: str
    progression: tuple[str, ...]  # chord names, one per bar, repeating
    gains_db: dict[str, float]
    distinct_parts: bool = False

    def to_dict(self) -> dict[str, Any]:
        facts = {
            "seed": self.seed,
            "duration": self.duration,
            "tempo": self.tempo,
            "key": self.key,
            "mode": self.mode,
            "progression": list(self.progression),
            "gains_db": self.gains_db,
        }
        return facts | ({"distinct_parts": True} if self.distinct_parts else {})  # the default's metadata stays as it was


MAX_SEED = 2**32 - 1  # as stemlime's own seeds (--seed of explain)


def check_seed(seed: int, flag: str = "--seed") -> int:
    """A piece's seed: a whole number from 0 to 2^32 - 1 (numpy refuses negative seeds)."""
    return whole_number(seed, "seed", 0, MAX_SEED, flag=flag)


def check_duration(duration: float) -> float:
    duration = float(duration)
    if not np.isfinite(duration) or duration <= 0:
        raise UsageError(f"duration must be a positive number of seconds (--duration), got {duration:g}")
    return duration


def _chord(root_pc: int, degree: int, scale: tuple[int, ...]) -> list[int]:
    """Pitch classes of the triad on a scale degree."""
    return [(root_pc + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4)]


def _chord_name(root_pc: int, degree: int, scale: tuple[int, ...]) -> str:
    pcs = _chord(root_pc, degree, scale)
    third, fifth = (pcs[1] - pcs[0]) % 12, (pcs[2] - pcs[0]) % 12
    quality = "m" if third == 3 and fifth == 7 else "dim" if fifth == 6 else ""
    return NOTE_NAMES[pcs[0]] + quality


def _voiced(pcs: list[int], low: int) -> list[int]:
    """Each pitch class at its first MIDI key at or above ``low``."""
    return sorted(low + (pc - low) % 12 for pc in pcs)


def generate(
    seed: int, duration: float, instruments: str | tuple[str, ...] = ("piano", "guitar", "bass", "drums"), distinct_parts: bool = False
) -> Arrangement:
    """A random arrangement of ``duration`` seconds with the given instrument classes.

    The same seed, duration, instruments and ``distinct_parts`` give the same MIDI. Classes:
    piano, guitar, bass, drums, strings, vocals. ``distinct_parts`` (default False, which keeps
    the arrangements of earlier versions note for note): give each pitched part its own role,
    register and rhythm (see the module's docstring).
    """
    import pretty_midi

    seed = check_seed(seed)
    duration = check_duration(duration)
    classes = parse_classes(instruments)
    rng = np.random.default_rng(int(seed))
    tempo = float(rng.integers(80, 141))
    mode = "major" if rng.random() < 0.6 else "minor"
    scale = MAJOR if mode == "major" else MINOR
    root = int(rng.integers(12))
    degrees = PROGRESSIONS[mode][rng.integers(len(PROGRESSIONS[mode]))]
    beat = 60.0 / tempo
    bar = 4 * beat
    n_bars = int(np.ceil(duration / bar))
    chords = [_chord(root, degrees[b % len(degrees)], scale) for b in range(n_bars)]

    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    gains = {}
    parts = {}
    for name in classes:
        program = int(rng.choice(GENERATOR_PROGRAMS[name]))
        parts[name] = pretty_midi.Instrument(program=program, is_drum=name == DRUMS, name=name)
        gains[name] = round(float(rng.uniform(*LEAD_GAIN_DB if name == "vocals" else GAIN_DB)), 2)
    melody_part = "vocals" if "vocals" in parts else next((c for c in ("guitar", "piano", "strings") if c in parts), None)
    if distinct_parts and melody_part in ("guitar", "piano") and {"guitar", "piano"} <= set(parts):
        melody_part = str(rng.choice(["guitar", "piano"]))  # it plays the melody alone; the other one comps

    def add(name: str, key: int, start: float, length: float, velocity: float) -> None:
        if start >= duration:
            return
        end = min(start + length, duration)
        parts[name].notes.append(pretty_midi.Note(int(np.clip(velocity, 1, 127)), int(key), float(start), float(end)))

    loudness = {name: float(rng.uniform(70, 110)) for name in parts}  # each part's typical velocity
    if DRUMS in parts:
        _drums(add, rng, loudness[DRUMS], n_bars, bar)
    if "bass" in parts:
        (_walking_bass if distinct_parts else _bass)(add, rng, loudness["bass"], chords, bar)
    for name in ("piano", "guitar", "strings"):
        if name not in parts:
            continue
        if not distinct_parts:
            _comping(name, add, rng, loudness[name], chords, bar)
        elif name == "strings" or name != melody_part or {"guitar", "piano"} - set(parts):
            low = DISTINCT_COMPING_LOW["piano_under_guitar" if name == "piano" and melody_part == "guitar" else name]
            _distinct_comping(name, add, rng, loudness[name], chords, bar, low)
    if melody_part is not None:
        melody_range = DISTINCT_MELODY_RANGES.get(melody_part) if distinct_parts else None
        words = _melody(add, rng, melody_part, loudness[melody_part], chords, root, scale, bar, duration, melody_range)
        if melody_part == "vocals":
            midi.lyrics = [pretty_midi.Lyric(word, note.start) for word, note in zip(words, parts["vocals"].notes)]
    midi.instruments = [parts[name] for name in classes]
    progression = tuple(_chord_name(root, d, scale) for d in degrees)
    return Arrangement(midi, int(seed), duration, tempo, NOTE_NAMES[root], mode, progression, gains, bool(distinct_parts))


def _drums(add, rng, velocity, n_bars, bar) -> None:
    pattern = DRUM_PATTERNS[rng.integers(len(DRUM_PATTERNS))]
    step = bar / 8
    add(DRUMS, CRASH, 0.0, step, velocity)
    for b in range(n_bars):
        fill = b % 4 == 3 and rng.random() < 0.5  # a snare fill in the last half bar of a phrase
        for key, steps in pattern:
            for s in steps:
                if fill and s >= 4 and key == SNARE:
                    continue
                accent = 1.0 if s % 2 == 0 else 0.8
                add(DRUMS, key, b * bar + s * step, step, velocity * accent * rng.uniform(0.9, 1.05))
        if fill:
            for s in range(8, 16):
                add(DRUMS, SNARE, b * bar + s * bar / 16, bar / 16, velocity * rng.uniform(0.7, 1.0))


def _bass(add, rng, velocity, chords, bar) -> None:
    rhythm = rng.choice(["quarters", "eighths", "half"])
    for b, chord in enumerate(chords):
        root = _voiced([chord[0]], 33)[0]  # A1..G#2
        fifth = _voiced([chord[2]], root)[0]
        if rhythm == "half":
            hits = [(0.0, root, 0.5), (0.5, fifth, 0.5)]
        elif rhythm == "quarters":
            hits = [(q / 4, root if q != 2 else fifth, 0.25) for q in range(4)]
        else:
            hits = [(e / 8, root if e % 4 != 3 else fifth, 0.125) for e in range(8)]
        for position, key, length in hits:
            add("bass", key, b * bar + position * bar, 0.9 * length * bar, velocity * rng.uniform(0.9, 1.05))


def _comping(name, add, rng, velocity, chords, bar) -> None:
    style = {"piano": ("block", "offbeat"), "guitar": ("strum", "arpeggio"), "strings": ("held",)}[name]
    style = style[rng.integers(len(style))]
    low = {"piano": 55, "guitar": 52, "strings": 55}[name]
    for b, chord in enumerate(chords):
        keys = _voiced(chord, low)
        start = b * bar
        if style == "held":
            for key in keys:
                add(name, key, start, bar, velocity * 0.8)
        elif style == "block":
            for half in (0, 1):
                for key in keys + [keys[0] + 12]:
                    add(name, key, start + half * bar / 2, 0.45 * bar, velocity * rng.uniform(0.9, 1.05))
        elif style == "offbeat":
            for q in range(4):
                for key in keys:
                    add(name, key, start + (q + 0.5) * bar / 4, 0.2 * bar, velocity * rng.uniform(0.85, 1.0))
        elif style == "strum":
            strings = _voiced([chord[0]], low - 12)[:1] + keys + [keys[0] + 12]
            for q in (0, 1.5, 2, 3):  # a down-strum rhythm
                for i, key in enumerate(strings):
                    add(name, key, start + q * bar / 4 + 0.012 * i, 0.22 * bar, velocity * rng.uniform(0.85, 1.0))
        else:  # arpeggio
            order = keys + [keys[0] + 12, keys[2], keys[1]] + keys[:2]
            for e, key in enumerate(order[:8]):
                add(name, key, start + e * bar / 8, 0.3 * bar, velocity * rng.uniform(0.85, 1.0))


def _melody(add, rng, name, velocity, chords, root, scale, bar, duration, melody_range=None) -> list[str]:
    """Two-bar phrases of quarter and eighth notes on chord tones and the scale, each with a rest at its end."""
    low, high = melody_range or (MELODY_RANGE if name == "vocals" else (67, 84))
    candidates = [k for k in range(low, high + 1) if (k - root) % 12 in {s for s in scale}]
    words = []
    key = candidates[len(candidates) // 2]
    for b, chord in enumerate(chords):
        position = 0.0
        rest_bar = b % 2 == 1
        while position < (0.5 if rest_bar else 1.0) - 1e-9:
            length = float(rng.choice([0.25, 0.25, 0.125, 0.5])) if not rest_bar else 0.25
            length = min(length, (0.5 if rest_bar else 1.0) - position)
            on_beat = abs(position * 4 - round(position * 4)) < 1e-9
            if on_beat:  # strong positions: a chord tone, mostly near the previous note
                tones = np.array([k for k in candidates if k % 12 in chord])
                closeness = np.exp(-np.abs(tones - key) / 3.0)
                key = int(rng.choice(tones, p=closeness / closeness.sum()))
            else:  # weak positions: a step or a skip along the scale
                index = candidates.index(key) + int(rng.choice([-2, -1, 1, 2]))
                key = candidates[int(np.clip(index, 0, len(candidates) - 1))]
            start = b * bar + position * bar
            if start < duration and rng.random() < 0.9:
                add(name, key, start, 0.92 * length * bar, velocity * rng.uniform(0.9, 1.05))
                words.append(str(rng.choice(WORDS)))
            position += length
    return words


def _walking_bass(add, rng, velocity, chords, bar) -> None:
    """distinct_parts: roots in E1..D#2, with fifths, octave leaps and a chromatic approach to the next root."""
    rhythm = rng.choice(["quarters", "eighths", "syncopated"])
    for b, chord in enumerate(chords):
        root = _voiced([chord[0]], WALKING_BASS_LOW)[0]
        fifth = _voiced([chord[2]], root)[0]
        following = _voiced([chords[(b + 1) % len(chords)][0]], WALKING_BASS_LOW)[0]
        approach = following - 1 if following > root else following + 1
        if rhythm == "quarters":
            hits = [(0.0, root, 0.25), (0.25, root + 12, 0.25), (0.5, fifth, 0.25), (0.75, approach, 0.25)]
        elif rhythm == "eighths":
            line = [root, root, root + 12, root, fifth, fifth, root + 12, approach]
            hits = [(e / 8, key, 0.125) for e, key in enumerate(line)]
        else:
            hits = [(0.0, root, 0.375), (0.375, root, 0.125), (0.5, fifth, 0.25), (0.875, approach, 0.125)]
        for position, key, length in hits:
            add("bass", key, b * bar + position * bar, 0.85 * length * bar, velocity * rng.uniform(0.9, 1.05))


def _distinct_comping(name, add, rng, velocity, chords, bar, low) -> None:
    """distinct_parts: piano with sevenths, broken chords or arpeggios; guitar with power chords,
    a syncopated strum or a picked riff; strings held as by default; voiced from the key ``low`` up."""
    styles = {"piano": ("block7", "broken", "arpeggio16"), "guitar": ("power", "syncopated", "riff"), "strings": ("held",)}[name]
    style = styles[rng.integers(len(styles))]
    for b, chord in enumerate(chords):
        keys = _voiced(chord, low)
        seventh = keys[0] + (10 if (keys[1] - keys[0]) % 12 == 3 else 11)
        start = b * bar
        if style == "held":
            for key in keys:
                add(name, key, start, bar, velocity * 0.8)
        elif style == "block7":  # on beats 1 and 3, the upper voices an octave up
            for beat in (0, 2):
                for key in [keys[0], keys[1] + 12, keys[2], seventh]:
                    add(name, key, start + beat * bar / 4, 0.4 * bar, velocity * rng.uniform(0.9, 1.05))
        elif style == "broken":  # root on the beat, the rest of the chord on the off-beats
            for q in range(4):
                add(name, keys[0], start + q * bar / 4, 0.12 * bar, velocity * rng.uniform(0.9, 1.05))
                for key in (keys[1] + 12, keys[2] + 12):
                    add(name, key, start + (q + 0.5) * bar / 4, 0.12 * bar, velocity * rng.uniform(0.8, 0.95))
        elif style == "arpeggio16":
            order = [keys[0], keys[1], keys[2], keys[0] + 12, keys[1] + 12, keys[2] + 12, keys[0] + 12, keys[2]]
            for s in range(16):
                add(name, order[s % 8], start + s * bar / 16, 0.1 * bar, velocity * rng.uniform(0.8, 1.0))
        elif style == "power":  # palm-muted eighths of root, fifth and octave
            root = keys[0]
            power = [root, root + 7, root + 12]
            for e in range(8):
                for key in power:
                    add(name, key, start + e * bar / 8, 0.09 * bar, velocity * (1.0 if e % 2 == 0 else 0.8) * rng.uniform(0.9, 1.0))
        elif style == "syncopated":
            strings = keys + [keys[0] + 12, keys[1] + 12]
            for position in (0, 3, 6, 10, 12, 14):  # sixteenths
                for i, key in enumerate(strings):
                    add(name, key, start + position * bar / 16 + 0.01 * i, 0.1 * bar, velocity * rng.uniform(0.85, 1.0))
        else:  # riff: single notes on the chord tones
            line = [keys[0], keys[2], keys[0] + 12, keys[2], keys[1] + 12, keys[2], keys[0] + 12, keys[1]]
            for e, key in enumerate(line):
                add(name, key, start + e * bar / 8, 0.11 * bar, velocity * rng.uniform(0.85, 1.0))
