"""Training batches: chunks of tracks, as a pure function of (seed, epoch, step).

An epoch visits every track about ``length / chunk`` times in an order drawn from
``(seed, epoch)``; batch ``step`` of it takes the next ``batch_size`` visits, and everything
random about it (chunk offsets, remixing, gains) is drawn from ``(seed, epoch, step)``. So a
run resumed at any step sees exactly the batches an uninterrupted run sees.

Remixing (as open-unmix and most separation trainers do): with probability ``remix`` an
example takes each instrument from a different random track that has it, at its own offset,
so the model hears many more combinations than the tracks hold. Each source's gain is drawn
in ``[-gain_db, +gain_db]`` dB.
"""

from __future__ import annotations

from typing import Sequence

import attrs
import numpy as np

from .config import CerberusConfig
from .data import Track
from .transcription import frame_count, roll_targets


@attrs.frozen
class Batch:
    sources: np.ndarray  # (B, S, samples) float32: the instruments, then rest; the mixture is their sum
    roll: np.ndarray  # (B, frames, roll_size) float32 targets


def _put(out: np.ndarray, audio: np.ndarray | None, offset: int, gain: np.float32) -> None:
    """``audio[offset:]`` times ``gain`` into the zeros of ``out`` (as far as either reaches)."""
    if audio is not None:
        piece = audio[offset : offset + len(out)]
        np.multiply(piece, gain, out=out[: len(piece)])


def visits(tracks: Sequence[Track], chunk: int) -> np.ndarray:
    """An epoch's visits: each track's index once per ``chunk`` samples it holds (at least once)."""
    return np.concatenate([np.full(max(1, t.length // chunk), i) for i, t in enumerate(tracks)])


class Batches:
    def __init__(
        self,
        tracks: Sequence[Track],
        config: CerberusConfig,
        batch_size: int,
        chunk_samples: int,
        seed: int,
        remix: float = 0.5,
        gain_db: float = 6.0,
    ):
        self.tracks = list(tracks)
        self.config = config
        self.batch_size = int(batch_size)
        self.chunk = int(chunk_samples)
        self.seed = int(seed)
        self.remix = float(remix)
        self.gain_db = float(gain_db)
        self.visits = visits(self.tracks, self.chunk)
        # arrays, not lists: rng.choice would convert a list of thousands of tracks at every draw
        self.having = {name: np.array([i for i, t in enumerate(self.tracks) if name in t.stems], np.int64) for name in config.instruments}
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, its order of visits): drawn once an epoch

    @property
    def rows(self) -> int:
        """Chunks in every batch: ``batch_size``, or an epoch's visits when there are fewer."""
        return min(self.batch_size, len(self.visits))

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.visits) // self.batch_size)

    def _offset(self, rng: np.random.Generator, track: Track) -> int:
        return int(rng.integers(0, max(1, track.length - self.chunk + 1)))

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's visits in the order its batches take them."""
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.visits))
        return self._order[1]

    def batch(self, epoch: int, step: int) -> Batch:
        order = self.order(epoch)
        rng = np.random.default_rng([self.seed, epoch, step, 1])
        chosen = order[step * self.batch_size : (step + 1) * self.batch_size]
        config, rate = self.config, self.config.sample_rate
        frames = frame_count(config, self.chunk)
        sources = np.zeros((len(chosen), len(config.sources), self.chunk), np.float32)
        roll = np.zeros((len(chosen), frames, config.roll_size), np.float32)
        for b, index in enumerate(chosen):
            track = self.tracks[index]
            offset = self._offset(rng, track)
            remixed = rng.random() < self.remix
            for s, name in enumerate(config.instruments):
                source, start = track, offset
                if remixed and len(self.having[name]):
                    source = self.tracks[int(rng.choice(self.having[name]))]
                    start = self._offset(rng, source)
                gain = np.float32(10 ** (rng.uniform(-self.gain_db, self.gain_db) / 20))
                if name in source.stems:
                    _put(sources[b, s], source.stems[name], start, gain)
                    if name in source.notes:
                        roll_targets(config, {name: source.notes[name]}, start / rate, frames, out=roll[b])
            gain = np.float32(10 ** (rng.uniform(-self.gain_db, self.gain_db) / 20))
            _put(sources[b, -1], track.rest, offset, gain)
        return Batch(sources, roll)
