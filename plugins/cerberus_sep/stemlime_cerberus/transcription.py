"""Piano rolls <-> notes, on the network's frame grid (frame t is centred at t * hop / rate s).

The roll has ``config.roll_size`` columns: 88 keys (MIDI ``lowest_pitch`` up) for each pitched
instrument in the model's order, then one onset column per drum class. A pitched note is
active in the frames whose centres lie in [start, end); a drum hit marks its onset frame and
the one after it.

Decoding compares each column with a threshold. The sigmoid outputs of sparse targets (a key
sounds in a few frames of a few hundred) stay well below 0.5 for a long time in training, so a
trained model carries its own thresholds, one per instrument, chosen on validation pieces
(:func:`stemlime_cerberus.scoring.choose_thresholds`) and stored in its ``config.json``;
THRESHOLD is only the fallback for a model without them.
"""

from __future__ import annotations

import numpy as np

from stemlime.plugin import Note, Part

from .config import CerberusConfig
from .instruments import DRUM_CLASS_OF_KEY, DRUM_CLASSES, DRUMS

THRESHOLD = 0.5  # sigmoid output above which a key sounds (or a drum class has an onset), without chosen thresholds
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


def roll_targets(
    config: CerberusConfig, notes: dict[str, np.ndarray], start_seconds: float, frames: int, out: np.ndarray | None = None
) -> np.ndarray:
    """The target roll (frames, roll_size) float32 of a chunk starting at ``start_seconds``:
    ``notes`` {instrument: (N, 3) start, end, pitch} in seconds of the whole track. Only the
    notes that reach into the chunk are drawn (a training batch takes 2 s of a track's notes).
    ``out``: a roll to draw into (its ones stay), returned; default a new one of zeros."""
    roll = np.zeros((frames, config.roll_size), np.float32) if out is None else out
    fps = frames_per_second(config)
    for instrument, rows in notes.items():
        rows = np.asarray(rows, np.float64).reshape(-1, 3)
        if instrument not in config.instruments or not len(rows):
            continue
        offset = column_offset(config, instrument)
        if instrument == DRUMS:  # each onset marks DRUM_ONSET_FRAMES frames from its nearest frame
            classes = [DRUM_CLASS_OF_KEY.get(int(key)) for key in rows[:, 2]]
            column = np.array([config.drum_classes.index(c) if c in config.drum_classes else -1 for c in classes], np.int64)
            first = np.rint((rows[:, 0] - start_seconds) * fps).astype(np.int64)
            last = first + DRUM_ONSET_FRAMES
        else:  # a note sounds in the frames whose centres lie in [start, end)
            column = rows[:, 2].astype(np.int64) - config.lowest_pitch
            column[(column < 0) | (column >= config.pitches)] = -1
            first = np.ceil((rows[:, 0] - start_seconds) * fps - 1e-9).astype(np.int64)
            last = np.ceil((rows[:, 1] - start_seconds) * fps - 1e-9).astype(np.int64)
        inside = (column >= 0) & (last > 0) & (first < frames)
        for a, b, c in zip(np.maximum(first[inside], 0), last[inside], column[inside] + offset):
            roll[a:b, c] = 1.0
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


def _threshold(thresholds: float | dict[str, float] | None, instrument: str) -> float:
    if thresholds is None:
        return THRESHOLD
    if isinstance(thresholds, dict):
        return float(thresholds.get(instrument, THRESHOLD))
    return float(thresholds)


def active_keys(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """(frames, keys) bool: where a key sounds, i.e. runs above ``threshold`` of at least MIN_NOTE_FRAMES."""
    active = probabilities > threshold
    kept = np.zeros_like(active)
    for key in np.flatnonzero(active.any(axis=0)):
        for first, end in _runs(active[:, key]):
            if end - first >= MIN_NOTE_FRAMES:
                kept[first:end, key] = True
    return kept


def drum_onsets(config: CerberusConfig, probabilities: np.ndarray, threshold: float) -> list[Note]:
    """The drum hits of a roll of probabilities, one Note per onset (each class as its first GM key)."""
    fps = frames_per_second(config)
    offset = column_offset(config, DRUMS)
    notes = []
    for index, name in enumerate(config.drum_classes):
        key = DRUM_CLASSES[name][0]
        notes += [Note(f / fps, f / fps + DRUM_NOTE_SECONDS, key, VELOCITY) for f in _onsets(probabilities[:, offset + index], threshold)]
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def decode(config: CerberusConfig, probabilities: np.ndarray, thresholds: float | dict[str, float] | None = None) -> dict[str, Part]:
    """Notes from a roll of probabilities (frames, roll_size): {instrument: Part}, times in seconds.
    ``thresholds``: one for all, {instrument: threshold} (a model's own, from its config.json),
    or None (THRESHOLD)."""
    fps = frames_per_second(config)
    parts = {}
    for instrument in config.instruments:
        threshold = _threshold(thresholds, instrument)
        if instrument == DRUMS:
            parts[instrument] = Part(tuple(drum_onsets(config, probabilities, threshold)), 0, True)
            continue
        offset = column_offset(config, instrument)
        keys = active_keys(probabilities[:, offset : offset + config.pitches], threshold)
        notes = [
            Note(first / fps, end / fps, config.lowest_pitch + key, VELOCITY)
            for key in np.flatnonzero(keys.any(axis=0))
            for first, end in _runs(keys[:, key])
        ]
        parts[instrument] = Part(tuple(sorted(notes, key=lambda n: (n.start, n.pitch))), PROGRAMS.get(instrument, 0), False)
    return parts


def part_rows(part: Part) -> np.ndarray:
    """A Part's notes as (N, 3) rows of start, end, pitch."""
    return np.array([[n.start, n.end, n.pitch] for n in part.notes], np.float64).reshape(-1, 3)
