"""Where the music moves: note onsets and beats (librosa), as sample indices of the mix.

librosa is imported on first use so that listing plugins stays fast.
"""

from __future__ import annotations

import numpy as np

from stemlime.plugin import first_use  # librosa compiles its numba code on first use: one process at a time

SNAP_SECONDS = 0.06  # a beat is moved to a note onset at most this far away


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
    with first_use("librosa onsets"):
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
    with first_use("librosa beats"):  # (not around onset_samples below: it takes the lock itself)
        _, beats = librosa.beat.beat_track(y=audio, sr=sample_rate, hop_length=hop, start_bpm=start_bpm, units="samples")
    beats = np.asarray(beats, dtype=np.int64)
    onsets = onset_samples(audio, sample_rate)
    if len(beats) and len(onsets):
        nearest = onsets[np.abs(onsets[None, :] - beats[:, None]).argmin(axis=1)]
        close = np.abs(nearest - beats) <= SNAP_SECONDS * sample_rate
        beats = np.where(close, nearest, beats)
    return np.unique(beats)
