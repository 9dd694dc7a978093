"""Where the music moves: note onsets and beats (librosa), as sample indices of the mix.

librosa is imported on first use so that listing plugins stays fast.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

SNAP_SECONDS = 0.06  # a beat is moved to a note onset at most this far away
_LOADED: set[str] = set()  # the librosa analyses this process has run (their compiled code is loaded)


def first_use_lock() -> Path:
    """The machine-wide lock file (one per user) that first uses of librosa's analyses wait for."""
    return Path(tempfile.gettempdir()) / f"stemlime-librosa-numba-{os.getuid()}.lock"


@contextmanager
def first_use(analysis: str) -> Iterator[None]:
    """Run the block alone on this machine the first time this process runs ``analysis``.

    librosa compiles its numba functions on first use and caches them on disk. Processes that do
    that at the same moment on a new install (make test's workers, Ray's actors, two runs) can load
    each other's half-written cache and die of a segmentation fault (here, five rounds of four
    processes started together on an empty cache: 4 of 20 crashed, and 10 of 20 in a second try).
    So each process's first call of an analysis waits for a lock (flock: a killed process leaves
    none); later calls run freely."""
    if analysis in _LOADED:
        yield
        return
    import fcntl

    try:
        handle = open(first_use_lock(), "a")
    except OSError:  # no writable temporary folder: run as librosa would
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    _LOADED.add(analysis)


def analysis_hop(sample_rate: int) -> int:
    """Hop in samples for onset and beat analysis: the power of two closest to 10 ms.

    librosa's default 512 samples is 32 ms at 16 kHz, too coarse to cut between two notes.
    """
    return int(2 ** round(np.log2(sample_rate / 100)))


def onset_samples(mix: np.ndarray, sample_rate: int) -> np.ndarray:
    """Note onsets, moved back to the energy minimum before each attack (so a cut there keeps
    the whole attack in the following segment); sorted unique sample indices."""
    import librosa

    hop = analysis_hop(sample_rate)
    with first_use("onsets"):
        onsets = librosa.onset.onset_detect(
            y=np.asarray(mix, dtype=np.float32), sr=sample_rate, hop_length=hop, units="samples", backtrack=True
        )
    return np.unique(np.asarray(onsets, dtype=np.int64))


def beat_samples(mix: np.ndarray, sample_rate: int, start_bpm: float = 120.0) -> np.ndarray:
    """Beats of librosa's beat tracker, each snapped to the nearest onset within 60 ms.

    The tracker marks the peak of the onset strength, which lags the attack by a frame or two;
    the backtracked onset is where the note really starts. Sorted unique sample indices.
    """
    import librosa

    hop = analysis_hop(sample_rate)
    audio = np.asarray(mix, dtype=np.float32)
    with first_use("beats"):  # (not around onset_samples below: it takes the lock itself)
        _, beats = librosa.beat.beat_track(y=audio, sr=sample_rate, hop_length=hop, start_bpm=start_bpm, units="samples")
    beats = np.asarray(beats, dtype=np.int64)
    onsets = onset_samples(audio, sample_rate)
    if len(beats) and len(onsets):
        nearest = onsets[np.abs(onsets[None, :] - beats[:, None]).argmin(axis=1)]
        close = np.abs(nearest - beats) <= SNAP_SECONDS * sample_rate
        beats = np.where(close, nearest, beats)
    return np.unique(beats)
