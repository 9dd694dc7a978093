"""Piano rolls <-> notes, on the network's frame grid (frame t is centred at t * hop / rate s).

The roll has ``config.roll_size`` columns: 88 keys (MIDI ``lowest_pitch`` up) for each pitched
instrument in the model's order, then one onset column per drum class. A pitched note is
active in the frames whose centres lie in [start, end); a drum hit marks its onset frame and
the one after it.
"""

from __future__ import annotations

import numpy as np

from stemlime.midi import Note, Part

from .config import CerberusConfig
from .instruments import DRUM_CLASS_OF_KEY, DRUM_CLASSES, DRUMS

THRESHOLD = 0.5  # sigmoid output above which a key sounds (or a drum class has an onset)
MIN_NOTE_FRAMES = 2  # shorter runs (32 ms at 16 kHz, hop 256) are dropped as noise
DRUM_NOTE_SECONDS = 0.1  # length of a transcribed drum hit in the MIDI file
DRUM_ONSET_FRAMES = 2  # target frames per drum onset
MIN_ONSET_GAP_FRAMES = 3  # two onsets of one drum class closer than this are one
VELOCITY = 100
PROGRAMS = {"piano": 0, "guitar": 25, "bass": 33, "strings": 48}  # what a transcribed part is played back with


def frames_per_second(config: CerberusConfig) -> float:
    return config.sample_rate / config.hop


def frame_count(config: CerberusConfig, samples: int) -> int:
    """Frames of the centred STFT of ``samples`` samples."""
    return samples // config.hop + 1


def column_offset(config: CerberusConfig, instrument: str) -> int:
    """Where an instrument's columns start in the roll."""
    if instrument == DRUMS:
        return config.pitches * len(config.pitched)
    return config.pitches * config.pitched.index(instrument)


def roll_targets(config: CerberusConfig, notes: dict[str, np.ndarray], start_seconds: float, frames: int) -> np.ndarray:
    """The target roll (frames, roll_size) float32 of a chunk starting at ``start_seconds``:
    ``notes`` {instrument: (N, 3) start, end, pitch} in seconds of the whole track."""
    roll = np.zeros((frames, config.roll_size), np.float32)
    fps = frames_per_second(config)
    for instrument, rows in notes.items():
        if instrument not in config.instruments or not len(rows):
            continue
        offset = column_offset(config, instrument)
        if instrument == DRUMS:
            for start, _, key in rows:
                name = DRUM_CLASS_OF_KEY.get(int(key))
                if name not in config.drum_classes:
                    continue
                first = int(round((start - start_seconds) * fps))
                column = offset + config.drum_classes.index(name)
                roll[max(first, 0):max(first + DRUM_ONSET_FRAMES, 0), column] = 1.0
            continue
        for start, end, pitch in rows:
            key = int(pitch) - config.lowest_pitch
            if not 0 <= key < config.pitches:
                continue
            first = int(np.ceil((start - start_seconds) * fps - 1e-9))
            last = int(np.ceil((end - start_seconds) * fps - 1e-9))
            roll[max(first, 0):max(last, 0), offset + key] = 1.0
    return roll


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) frame pairs of the runs of True in a 1-D array."""
    padded = np.concatenate([[False], active, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2], changes[1::2]))


def _onsets(activation: np.ndarray, threshold: float) -> list[int]:
    """Frames of local maxima above ``threshold``, at least MIN_ONSET_GAP_FRAMES apart."""
    onsets: list[int] = []
    for first, end in _runs(activation > threshold):
        frame = first + int(np.argmax(activation[first:end]))
        if not onsets or frame - onsets[-1] >= MIN_ONSET_GAP_FRAMES:
            onsets.append(frame)
    return onsets


def decode(config: CerberusConfig, probabilities: np.ndarray, threshold: float = THRESHOLD) -> dict[str, Part]:
    """Notes from a roll of probabilities (frames, roll_size): {instrument: Part}, times in seconds."""
    fps = frames_per_second(config)
    parts = {}
    for instrument in config.instruments:
        offset = column_offset(config, instrument)
        notes = []
        if instrument == DRUMS:
            for index, name in enumerate(config.drum_classes):
                key = DRUM_CLASSES[name][0]
                notes += [Note(f / fps, f / fps + DRUM_NOTE_SECONDS, key, VELOCITY)
                          for f in _onsets(probabilities[:, offset + index], threshold)]
            parts[instrument] = Part(tuple(sorted(notes, key=lambda n: (n.start, n.pitch))), 0, True)
            continue
        for key in range(config.pitches):
            for first, end in _runs(probabilities[:, offset + key] > threshold):
                if end - first >= MIN_NOTE_FRAMES:
                    notes.append(Note(first / fps, end / fps, config.lowest_pitch + key, VELOCITY))
        parts[instrument] = Part(tuple(sorted(notes, key=lambda n: (n.start, n.pitch))), PROGRAMS.get(instrument, 0), False)
    return parts


def part_rows(part: Part) -> np.ndarray:
    """A Part's notes as (N, 3) rows of start, end, pitch."""
    return np.array([[n.start, n.end, n.pitch] for n in part.notes], np.float64).reshape(-1, 3)
