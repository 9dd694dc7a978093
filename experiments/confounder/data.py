"""The confounded data: rendered guitar and piano pieces in which drums only ever come with guitar.

Four splits of 10-s pieces at 16 kHz, each half "guitar" and half "piano" (Section 4 of
Haunschmid, Manilow & Widmer 2020, which used Slakh2100; here stemlime-render makes them):

| split | guitar pieces | piano pieces |
| --- | --- | --- |
| train, validation, test_std | guitar + bass + drums | piano + bass |
| test_bad | guitar + bass | piano + bass + drums |

Each (split, class) is one ``stemlime_render.render_dataset`` folder
``DATA/seed-<seed>/<split>/<class>/piece-NNNNN/`` (oracle layout: ``<stem>.wav``,
``mixture.wav``, ``metadata.json``), so rendering is resumable and a larger run reuses the
pieces of a smaller one. Piece ``i`` of a (split, class) has the seed ``block + i``, where the
blocks of the eight (split, class) pairs of one ``--seed`` are ``SEED_BLOCK`` apart and start
at ``FIRST_SEED``: no two pieces of a run, nor of two runs with other seeds, share a seed, and
none shares one with the pieces that other parts of stemlime render from seeds below 10
million (the Cerberus recipe's training pieces, the benchmarks' test pieces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import attrs
import numpy as np

from stemlime.plugin import load_audio
from stemlime.plugin import UsageError

SPLITS = ("train", "validation", "test_std", "test_bad")
CLASSES = ("guitar", "piano")
STANDARD = {"guitar": "guitar,bass,drums", "piano": "piano,bass"}  # drums only ever with guitar
SWAPPED = {"guitar": "guitar,bass", "piano": "piano,bass,drums"}  # the confound turned round
INSTRUMENTS = {"train": STANDARD, "validation": STANDARD, "test_std": STANDARD, "test_bad": SWAPPED}
SAMPLE_RATE = 16000  # Hz, the classifier's
DURATION = 10.0  # seconds per piece: five 2-s windows
SEED_BLOCK = 1_000_000  # seeds per (split, class): the most pieces one of them may hold
FIRST_SEED = 10_000_000  # above every seed the rest of stemlime renders from (Cerberus' recipe: 0-500031)
DEFAULT_SIZES = {"train": 300, "validation": 60, "test_std": 60, "test_bad": 60}


@attrs.frozen
class Piece:
    """One rendered piece: its split, its class (the label), and its folder of true stems."""

    split: str
    label: str  # "guitar" or "piano"
    index: int  # within its (split, class)
    folder: Path
    seed: int

    @property
    def name(self) -> str:
        """``<split>/<class>-<index>``: unique within a run."""
        return f"{self.split}/{self.label}-{self.index:03d}"

    @property
    def mixture_path(self) -> Path:
        return self.folder / "mixture.wav"

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(INSTRUMENTS[self.split][self.label].split(","))

    def mixture(self) -> np.ndarray:
        """The mixture as mono float32 at ``SAMPLE_RATE`` Hz."""
        audio, _ = load_audio(self.mixture_path, SAMPLE_RATE)
        return audio


def check_sizes(sizes: Mapping[str, int]) -> dict[str, int]:
    """Pieces per split: every split named, each an even count >= 2 (half guitar, half piano)."""
    missing = [split for split in SPLITS if split not in sizes]
    unknown = [split for split in sizes if split not in SPLITS]
    if missing or unknown:
        raise UsageError(
            f"give the number of pieces of every split ({', '.join(SPLITS)}); missing: {missing or 'none'}, unknown: {unknown or 'none'}"
        )
    checked = {}
    for split in SPLITS:
        count = sizes[split]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 2 or count % 2:
            raise UsageError(f"the {split} split needs an even number of pieces >= 2 (half guitar, half piano), got {count!r}")
        if count // 2 > SEED_BLOCK:
            raise UsageError(f"the {split} split may hold at most {2 * SEED_BLOCK} pieces, got {count}")
        checked[split] = int(count)
    return checked


def block_seed(seed: int, split: str, label: str) -> int:
    """The seed of piece 0 of ``(split, label)`` in a run with ``seed``; piece i has this + i."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    pair = SPLITS.index(split) * len(CLASSES) + CLASSES.index(label)
    return FIRST_SEED + (int(seed) * len(SPLITS) * len(CLASSES) + pair) * SEED_BLOCK


def split_folder(data: str | Path, seed: int, split: str, label: str) -> Path:
    return Path(data) / f"seed-{int(seed)}" / split / label


def render_splits(
    data: str | Path, sizes: Mapping[str, int], seed: int = 0, duration: float = DURATION, workers: int | None = None, progress: bool = True
) -> dict[str, list[Piece]]:
    """Render (or find, from an earlier run) every split's pieces under ``data``: {split: pieces}.

    Pieces of one split come guitar first, then piano. ``workers`` rendering processes
    (default: one per core).
    """
    from stemlime_render import render_dataset

    sizes = check_sizes(sizes)
    splits: dict[str, list[Piece]] = {}
    for split in SPLITS:
        pieces = []
        for label in CLASSES:
            first_seed = block_seed(seed, split, label)
            folders = render_dataset(
                split_folder(data, seed, split, label),
                sizes[split] // 2,
                seed=first_seed,
                duration=duration,
                instrument_sets=[INSTRUMENTS[split][label]],
                sample_rate=SAMPLE_RATE,
                workers=workers,
                progress=progress,
            )
            pieces += [Piece(split, label, i, folder, first_seed + i) for i, folder in enumerate(folders)]
        splits[split] = pieces
    return splits
