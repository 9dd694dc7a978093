"""Many rendered pieces: ``DIR/piece-00000/`` ... in parallel processes, resumable.

Piece ``i`` is ``render_song(seed + i, ...)``, so a piece does not depend on which process
rendered it or in which order. A piece whose ``metadata.json`` exists is complete (it is
written last, atomically) and is skipped when the command runs again. ``DIR/dataset.json``
keeps the settings; resuming with other settings is refused rather than mixing two datasets.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from stemlime.plugin import ResumableFolder, UsageError, whole_number, write_text_atomically

from .arrange import MAX_SEED, check_duration, check_seed
from .instruments import parse_classes
from .render import render_song

SETTINGS_FILE = "dataset.json"
KIND = "rendered-dataset"  # the kind of result folder render-dataset fills (stemlime.plugin.ResumableFolder)


def piece_folder(out: Path, index: int) -> Path:
    return out / f"piece-{index:05d}"


def _render_piece(job: tuple[int, dict[str, Any], str]) -> tuple[int, float]:
    """Render piece ``index`` into its folder; (index, seconds of audio). Runs in a worker process."""
    index, settings, out = job  # out: the dataset's folder, which holds the piece's
    seed = settings["seed"] + index
    sets = settings["instrument_sets"]
    # which instrument set a piece gets is drawn from its own seed: independent of the worker and order
    instruments = sets[int(np.random.default_rng([seed, 1]).integers(len(sets)))]
    rendering = render_song(
        seed,
        settings["duration"],
        instruments,
        settings["sample_rate"],
        settings["soundfont"],
        settings["vocals"],
        settings["voice"],
        settings.get("distinct_parts", False),
    )
    rendering.save(piece_folder(Path(out), index), force=True, within=out)  # an unfinished piece of this dataset: replaced
    return index, rendering.duration


def render_dataset(
    out: str | Path,
    count: int,
    seed: int = 0,
    duration: float = 10.0,
    instrument_sets: Sequence[str] = ("piano,guitar,bass,drums",),
    sample_rate: int = 44100,
    soundfont: str | Path | None = None,
    vocals: str = "espeak",
    voice: str = "en-us+f3",
    workers: int | None = None,
    progress: bool = True,
    distinct_parts: bool = False,
) -> list[Path]:
    """Render ``count`` pieces into ``out`` (those already there are kept); the pieces' folders.

    ``instrument_sets`` lists comma-separated class sets; each piece plays one of them, drawn
    with its seed. Datasets with controlled correlations come from the choice of sets, e.g.
    ``["guitar,drums,bass", "piano,bass"]``: drums only ever play with guitar.
    ``distinct_parts`` gives each pitched part its own role and register (``arrange.generate``).
    """
    whole_number(count, "count", minimum=1, flag="--count")
    check_seed(seed)
    if seed + count - 1 > MAX_SEED:  # piece i has the seed seed + i
        raise UsageError(f"--seed {seed} with --count {count} gives pieces seeds past {MAX_SEED}; choose a smaller --seed or --count")
    if workers is not None:
        whole_number(workers, "workers", minimum=1, flag="--workers")
    settings = {
        "seed": int(seed),
        "duration": check_duration(duration),
        "instrument_sets": [",".join(parse_classes(s)) for s in instrument_sets],
        "sample_rate": int(sample_rate),
        "soundfont": str(Path(soundfont).expanduser().resolve()) if soundfont else None,
        "vocals": vocals,
        "voice": voice,
        **({"distinct_parts": True} if distinct_parts else {}),  # absent by default: earlier dataset.json files still match
    }
    if not settings["instrument_sets"]:
        raise UsageError("give at least one instrument set")
    _check_disk(Path(out), int(count), settings)
    folder = ResumableFolder(out, KIND, inputs=[soundfont], subfolders=["."], adopt=_earlier_dataset, data=True)
    _check_settings(folder.check(), settings)
    with folder as root:
        _check_settings(root, settings)  # again under the lock
        write_text_atomically(root / SETTINGS_FILE, json.dumps(settings, indent=1))
        _render(root, count, settings, workers, progress)
    return [piece_folder(Path(out), i) for i in range(int(count))]


BYTES_PER_SAMPLE_ON_DISK = 2  # the least a WAV sample takes (16-bit)


def _check_disk(out: Path, count: int, settings: dict[str, Any]) -> None:
    """Refuse, before any rendering, a dataset that cannot fit on the disk of ``out`` (an
    absurd --count would otherwise spend hours listing and rendering until the disk is full)."""
    import shutil

    signals = 1 + max(len(classes.split(",")) for classes in settings["instrument_sets"])  # the mixture and its stems
    needed = count * settings["duration"] * settings["sample_rate"] * BYTES_PER_SAMPLE_ON_DISK * signals
    existing = out.expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return
    if needed > free:
        raise UsageError(
            f"--count {count} pieces of {settings['duration']:g} s at {settings['sample_rate']} Hz need at least "
            f"{needed / 2**30:.1f} GiB of disk, and {existing} has {free / 2**30:.1f} GiB free; choose a smaller "
            "--count or --duration, or another --out"
        )


def _earlier_dataset(folder: Path) -> bool:
    """A dataset folder rendered before folders were marked: dataset.json and piece folders only."""
    names = [path.name for path in folder.iterdir() if not path.name.startswith(".")]
    return SETTINGS_FILE in names and all(name == SETTINGS_FILE or name.startswith("piece-") for name in names)


def _check_settings(out: Path, settings: dict[str, Any]) -> None:
    """Refuse to resume a dataset rendered with other settings (the two would mix)."""
    settings_path = out / SETTINGS_FILE
    if settings_path.is_file():
        previous = json.loads(settings_path.read_text())
        if previous != settings:
            changed = ", ".join(f"{k}: {previous.get(k)!r} -> {v!r}" for k, v in settings.items() if previous.get(k) != v)
            raise UsageError(
                f"{out} holds a dataset rendered with other settings ({changed}); "
                "resume with the same settings or choose another output folder (--out)"
            )


def _render(out: Path, count: int, settings: dict[str, Any], workers: int | None, progress: bool) -> None:
    """Render the pieces of ``out`` that are not complete (a piece folder is swapped in whole)."""
    from tqdm import tqdm

    todo = [i for i in range(int(count)) if not (piece_folder(out, i) / "metadata.json").is_file()]
    if todo:
        # the first piece renders here: bad settings (soundfont, espeak-ng) fail once, with their own message
        jobs = [(i, settings, str(out)) for i in todo]
        bar = tqdm(total=len(todo), unit="piece", desc="rendering", disable=not progress)
        _render_piece(jobs[0])
        bar.update(1)
        workers = max(1, min(int(workers or os.cpu_count() or 1), len(jobs) - 1))
        if len(jobs) > 1:
            # spawn: workers start clean, whatever the parent process has loaded (threads of torch, FluidSynth)
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(_render_piece, jobs[1:]):
                    bar.update(1)
        bar.close()
