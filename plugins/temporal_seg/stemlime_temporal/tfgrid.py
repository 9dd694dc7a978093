"""SoundLIME's time-frequency grid: ``n_time`` x ``n_freq`` blocks of the STFT, each turned back
into audio by the inverse STFT.

The STFT (Hann window, hop n_fft/4, centred frames) reconstructs perfectly, and the block masks
are 0/1 and cover every STFT cell exactly once, so by linearity the blocks of a stem sum to the
stem (float64 inside; float32 out).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from stemlime.plugin import Segment, UsageError, option

SCALES = ("linear", "mel")


def _at_least_one(instance: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise UsageError(f"tf_grid: {attribute.name}={value} must be at least 1")


def _stft_size(instance: Any, attribute: Any, n_fft: int) -> None:
    if n_fft < 16 or n_fft % 4:
        raise UsageError(f"tf_grid: n_fft={n_fft} must be a multiple of 4 and at least 16 (e.g. 1024)")


@attrs.define
class TimeFrequencyGrid:
    """``n_time`` equal time spans x ``n_freq`` frequency bands (equal in Hz, or equal in mel)."""

    owner = "tf_grid"
    n_time: int = option(4, "number of equal time spans", validator=_at_least_one)
    n_freq: int = option(4, "number of frequency bands", validator=_at_least_one)
    n_fft: int = option(1024, "STFT size in samples (hop n_fft/4)", validator=_stft_size)
    scale: str = option("linear", "band spacing: equal in Hz or equal in mel", choices=SCALES)
    _cache: tuple[np.ndarray, np.ndarray] | None = attrs.field(default=None, init=False)  # (audio, its STFT): one stem at a time

    @property
    def hop(self) -> int:
        """STFT hop in samples."""
        return self.n_fft // 4

    # ------------------------------------------------------------------ the grid

    def band_edges(self, sample_rate: int) -> list[int]:
        """STFT bin indices where the bands start, plus the bin count at the end.

        A band holds the bins whose centre frequency lies in [low, high) Hz.
        """
        bins = self.n_fft // 2 + 1
        if self.scale == "linear":
            hz = np.linspace(0.0, sample_rate / 2, self.n_freq + 1)
        else:
            import librosa

            hz = librosa.mel_frequencies(self.n_freq + 1, fmin=0.0, fmax=sample_rate / 2)
        edges = np.round(hz * self.n_fft / sample_rate).astype(int)
        edges[-1] = bins  # the top band keeps the Nyquist bin
        if np.any(np.diff(edges) < 1):
            raise UsageError(
                f"tf_grid: n_freq={self.n_freq} {self.scale} bands do not fit in the {bins} frequency bins of n_fft={self.n_fft}; "
                "use fewer bands or a larger n_fft"
            )
        return [int(e) for e in edges]

    def frame_blocks(self, length: int) -> np.ndarray:
        """The time block of each STFT frame, by the time of its centre (frame f is centred on sample f*hop)."""
        frames = 1 + length // self.hop
        blocks = np.minimum(np.arange(frames) * self.hop * self.n_time // length, self.n_time - 1)
        if len(np.unique(blocks)) < self.n_time:
            raise UsageError(
                f"tf_grid: n_time={self.n_time} time blocks do not fit in the {frames} STFT frames of this "
                f"{length}-sample excerpt (hop {self.hop}); use fewer blocks or a smaller n_fft"
            )
        return blocks

    def _stft(self, audio: np.ndarray) -> np.ndarray:
        import librosa

        if self._cache is not None and self._cache[0] is audio:
            return self._cache[1]
        spectrum = librosa.stft(np.asarray(audio, dtype=np.float64), n_fft=self.n_fft, hop_length=self.hop, window="hann", center=True)
        self._cache = (audio, spectrum)
        return spectrum

    def _block(self, audio: np.ndarray, bins: slice, frames: np.ndarray) -> np.ndarray:
        import librosa

        spectrum = self._stft(audio)
        masked = np.zeros_like(spectrum)
        masked[bins, frames] = spectrum[bins, frames]
        out = librosa.istft(masked, n_fft=self.n_fft, hop_length=self.hop, window="hann", center=True, length=len(audio))
        return out.astype(np.float32)

    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Segment]:
        length = len(mix)
        if length < self.n_fft:
            raise UsageError(f"tf_grid: the excerpt ({length} samples) is shorter than n_fft={self.n_fft}; use a smaller n_fft")
        edges = self.band_edges(sample_rate)
        blocks = self.frame_blocks(length)
        bin_hz = sample_rate / self.n_fft
        segments = []
        for t in range(self.n_time):
            start, end = t * length / self.n_time / sample_rate, (t + 1) * length / self.n_time / sample_rate
            frames = np.flatnonzero(blocks == t)
            for low_bin, high_bin in zip(edges, edges[1:]):
                band = (low_bin * bin_hz, min(high_bin * bin_hz, sample_rate / 2))
                name = f"{start:.2f}-{end:.2f}s_{band[0]:.0f}-{band[1]:.0f}Hz"
                transform = _BlockTransform(self, slice(low_bin, high_bin), frames)
                segments.append(Segment(start, end, None, name, band=band, transform=transform))
        return segments


class _BlockTransform:
    """audio -> the audio of one STFT block (a callable so that a Segment can hold it)."""

    def __init__(self, grid: TimeFrequencyGrid, bins: slice, frames: np.ndarray):
        self.grid, self.bins, self.frames = grid, bins, frames

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.grid._block(audio, self.bins, self.frames)
