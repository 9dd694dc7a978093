"""The tracks of a dataset folder: which audio each one explains, and its name.

- Stem-folder layouts: every folder under DATA holding a ``mixture.*`` or ``mix.*`` file is one
  track (MUSDB18 decoded, Slakh2100 / BabySlakh with its ``stems/``, ``stemlime render`` and
  ``render-dataset``), explained from that file; the oracle separator finds its stems beside it.
- Every ``*.stem.mp4`` file under DATA (MUSDB18 as it ships) is one track, named after the file
  without ``.stem.mp4``, alongside any stem folders; the oracle separator reads its stems from
  the file's streams.
- Otherwise every audio file under DATA is one track (for separators that need no true stems).

A track's name is its folder's name (or the file's name without suffix); when two tracks would
share a name, both are named by their path relative to DATA instead (``train/Song``,
``test/Song``). Hidden files and folders, and stemlime output folders (an OUT inside DATA), are
never tracks.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import attrs

from ..builtins.separators import AUDIO_SUFFIXES, is_hidden, is_mixture_file
from ..errors import UsageError
from ..fs import is_data_folder, is_stemlime_output
from ..stemfile import is_stem_file, stem_file_name


@attrs.frozen
class Track:
    """One item of a dataset: ``name`` (unique in the dataset) and the ``audio`` file to explain."""

    name: str
    audio: Path


def _audio_files(folder: Path) -> list[Path]:
    """Every non-hidden audio file under ``folder``, skipping hidden folders and stemlime outputs
    (but not those marked as data: rendered songs), sorted."""
    found = []
    for path in sorted(folder.iterdir()):
        if is_hidden(path):
            continue
        if path.is_dir():
            if not is_stemlime_output(path) or is_data_folder(path):
                found.extend(_audio_files(path))
        elif path.is_file() and (path.suffix.lower() in AUDIO_SUFFIXES or is_stem_file(path)):
            found.append(path)
    return found


def find_tracks(data: str | Path) -> list[Track]:
    """The tracks of the dataset folder ``data``, in the order of their paths (see the module's rules)."""
    root = Path(data).expanduser()
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise UsageError(
            f"the dataset {data} {what}: give a folder of tracks (folders with mixture.* or mix.*, "
            ".stem.mp4 files, or audio files); to explain one file, use 'stemlime explain'"
        )
    files = _audio_files(root)
    mixtures: dict[Path, Path] = {}
    stem_files = [(path, path) for path in files if is_stem_file(path)]
    for path in files:
        if is_mixture_file(path) and not is_stem_file(path):
            mixtures.setdefault(path.parent, path)  # sorted: mixture.flac before mixture.wav, one per folder
    if mixtures or stem_files:
        chosen = sorted([*mixtures.items(), *stem_files], key=lambda item: item[0])
    else:
        chosen = [(path, path) for path in files]
    if not chosen:
        raise UsageError(
            f"no tracks in {data}: no folder holds a mixture.* or mix.* file, and there are no .stem.mp4 "
            f"or other audio files ({', '.join(sorted(AUDIO_SUFFIXES))})"
        )
    names = [where.name if where.is_dir() else stem_file_name(where) if is_stem_file(where) else where.stem for where, _ in chosen]
    repeated = {name for name, count in Counter(names).items() if count > 1}
    tracks = []
    for (where, audio), name in zip(chosen, names):
        if name in repeated:
            relative = where.relative_to(root)
            if where.is_dir():
                name = relative.as_posix()
            elif is_stem_file(where):
                name = (relative.parent / stem_file_name(where)).as_posix()
            else:
                name = relative.with_suffix("").as_posix()
            name = root.name if name == "." else name
        tracks.append(Track(name, audio.resolve()))
    clashes = [name for name, count in Counter(t.name for t in tracks).items() if count > 1]
    if clashes:  # a.wav and a.flac in one folder
        raise UsageError(
            f"two tracks in {data} would both be named {clashes[0]!r} (the same name with different suffixes); keep one of the files"
        )
    return tracks
