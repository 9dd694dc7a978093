"""Training data: tracks read from stemlime-render folders and Slakh2100 / BabySlakh folders.

A track is the stems of one piece at the model's rate, grouped into the model's instruments
(plus ``rest``: every other stem, summed) with each instrument's notes, the transcription
targets. Layouts read:

- stemlime-render: a piece folder (``metadata.json``, ``<stem>.wav``), or a dataset folder of
  them (``render-dataset``: ``piece-NNNNN/``). A stem's class comes from its programs in
  ``metadata.json`` (``--stems class`` or ``track``); sung vocals go to the rest.
- Slakh2100 / BabySlakh: ``TrackNNNNN/metadata.yaml``, ``stems/SNN.(flac|wav)``,
  ``MIDI/SNN.mid``; a split folder (``train/``) or the dataset's root holds track folders.
  Stems are classed by ``program_num`` / ``is_drum`` (piano 0-7, guitar 24-31, bass 32-39,
  drums); stems with ``audio_rendered: false`` have no audio and are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import attrs
import numpy as np

from stemlime.plugin import load_audio
from stemlime.plugin import StemlimeError, UsageError

from .instruments import class_of_program

RENDER_MARKER = "metadata.json"
SLAKH_MARKER = "metadata.yaml"
AUDIO_SUFFIXES = (".flac", ".wav")


@attrs.frozen(eq=False)
class Track:
    """One piece: ``stems`` {instrument: float32 mono} at ``sample_rate`` Hz, all as long as
    the piece, ``rest`` (the other stems summed, or None when there are none) and ``notes``
    {instrument: (N, 3) float64 rows of start s, end s, MIDI pitch}."""

    name: str
    sample_rate: int
    stems: dict[str, np.ndarray]
    rest: np.ndarray | None
    notes: dict[str, np.ndarray]

    @property
    def length(self) -> int:
        return len(next(iter(self.stems.values()))) if self.stems else (0 if self.rest is None else len(self.rest))

    def mixture(self) -> np.ndarray:
        """The sum of every stem and the rest (float32)."""
        total = np.zeros(self.length, np.float64)
        for audio in [*self.stems.values(), *([] if self.rest is None else [self.rest])]:
            total += audio
        return total.astype(np.float32)


def _notes_array(rows: Iterable[Sequence[float]]) -> np.ndarray:
    array = np.array([[float(r[0]), float(r[1]), float(r[2])] for r in rows], dtype=np.float64).reshape(-1, 3)
    return array[np.argsort(array[:, 0], kind="stable")] if len(array) else array


def _assemble(name: str, sample_rate: int, parts: list[tuple[str | None, np.ndarray, np.ndarray]], instruments: Sequence[str]) -> Track:
    """A track from (class or None, audio, notes) per stem: the model's instruments, the rest summed."""
    length = max(len(audio) for _, audio, _ in parts)
    stems: dict[str, np.ndarray] = {}
    notes: dict[str, list[np.ndarray]] = {}
    rest = None
    for instrument, audio, rows in parts:
        audio = np.pad(audio, (0, length - len(audio)))
        if instrument in instruments:
            stems[instrument] = stems.get(instrument, 0) + audio
            notes.setdefault(instrument, []).append(rows)
        else:
            rest = audio if rest is None else rest + audio
    return Track(
        name,
        sample_rate,
        {i: stems[i].astype(np.float32) for i in instruments if i in stems},
        None if rest is None else rest.astype(np.float32),
        {i: _notes_array(np.concatenate(notes[i])) for i in instruments if i in notes},
    )


def _stem_class(entry: dict[str, Any]) -> str | None:
    """The class of a rendered stem: that of all its instruments (None when they differ or sing)."""
    classes = {
        None if i.get("program") is None else class_of_program(i["program"], bool(i.get("is_drum"))) for i in entry.get("instruments", [])
    }
    return classes.pop() if len(classes) == 1 else None


def read_render_piece(folder: Path, instruments: Sequence[str], sample_rate: int) -> Track:
    """A stemlime-render piece folder as a :class:`Track` at ``sample_rate`` Hz."""
    folder = Path(folder)
    try:
        metadata = json.loads((folder / RENDER_MARKER).read_text())
        entries = metadata["stems"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StemlimeError(f"cannot read the stemlime-render piece {folder}: {folder / RENDER_MARKER} is unreadable ({error})") from None
    parts = []
    for stem, entry in entries.items():
        audio, _ = load_audio(folder / f"{stem}.wav", sample_rate)
        parts.append((_stem_class(entry), audio, _notes_array(entry.get("notes", []))))
    if not parts:
        raise StemlimeError(f"the stemlime-render piece {folder} has no stems")
    return _assemble(folder.name, sample_rate, parts, instruments)


def _read_midi_notes(path: Path) -> np.ndarray:
    import pretty_midi

    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # mido raises many kinds for a damaged file
        raise StemlimeError(f"cannot read {path} as MIDI ({type(error).__name__}: {error})") from None
    return _notes_array((n.start, n.end, n.pitch) for instrument in midi.instruments for n in instrument.notes)


def read_slakh_track(folder: Path, instruments: Sequence[str], sample_rate: int) -> Track:
    """A Slakh2100 / BabySlakh track folder as a :class:`Track` at ``sample_rate`` Hz."""
    import yaml

    folder = Path(folder)
    try:
        metadata = yaml.safe_load((folder / SLAKH_MARKER).read_text())
        entries = metadata["stems"]
        entries.items()
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        raise StemlimeError(
            f"cannot read the Slakh track {folder}: {folder / SLAKH_MARKER} is unreadable or has no stems ({error})"
        ) from None
    audio_dir = folder / str(metadata.get("audio_dir") or "stems")
    midi_dir = folder / str(metadata.get("midi_dir") or "MIDI")
    parts = []
    for stem, entry in sorted(entries.items()):
        if not isinstance(entry, dict) or not entry.get("audio_rendered", True):
            continue
        path = next((audio_dir / f"{stem}{suffix}" for suffix in AUDIO_SUFFIXES if (audio_dir / f"{stem}{suffix}").is_file()), None)
        if path is None:
            raise StemlimeError(
                f"the Slakh track {folder} says stem {stem} was rendered, but {audio_dir} holds no {stem}.flac or {stem}.wav"
            )
        try:
            instrument = class_of_program(int(entry.get("program_num", 0)), bool(entry.get("is_drum", False)))
        except (TypeError, ValueError):
            raise StemlimeError(
                f"the Slakh track {folder}: stem {stem} has program_num {entry.get('program_num')!r}, not a number"
            ) from None
        midi_path = midi_dir / f"{stem}.mid"
        rows = _read_midi_notes(midi_path) if midi_path.is_file() else _notes_array([])
        audio, _ = load_audio(path, sample_rate)
        parts.append((instrument, audio, rows))
    if not parts:
        raise StemlimeError(f"the Slakh track {folder} has no rendered stems")
    return _assemble(folder.name, sample_rate, parts, instruments)


def find_tracks(root: str | Path) -> list[tuple[str, Path]]:
    """The track folders under ``root`` as (layout, folder), layout ``render`` or ``slakh``:
    ``root`` itself, its children or its grandchildren (Slakh's ``train/TrackNNNNN``), sorted."""
    root = Path(root).expanduser()
    if not root.exists():
        raise UsageError(f"the data folder {root} does not exist")
    if not root.is_dir():
        raise UsageError(f"the data folder {root} is not a folder: give a stemlime-render or Slakh folder (--data DIR)")

    def layout(folder: Path) -> str | None:
        if (folder / RENDER_MARKER).is_file():
            return "render"
        if (folder / SLAKH_MARKER).is_file():
            return "slakh"
        return None

    try:
        for candidates in (
            [root],
            sorted(p for p in root.iterdir() if p.is_dir()),
            sorted(q for p in root.iterdir() if p.is_dir() for q in p.iterdir() if q.is_dir()),
        ):
            found = [(kind, folder) for folder in candidates if (kind := layout(folder))]
            if found:
                return found
    except PermissionError as error:
        raise UsageError(f"the data folder {root} cannot be read ({error.strerror}): {error.filename}") from None
    raise UsageError(
        f"the data folder {root} holds no tracks: expected stemlime-render pieces (folders with {RENDER_MARKER}, e.g. from "
        f"'stemlime render-dataset') or Slakh2100 tracks (TrackNNNNN/ with {SLAKH_MARKER}, stems/, MIDI/)"
    )


def read_tracks(roots: Sequence[str | Path], instruments: Sequence[str], sample_rate: int = 16000, progress: bool = False) -> list[Track]:
    """Every track under each of ``roots`` (see :func:`find_tracks`) with ``instruments``.

    A root none of whose tracks has one of the instruments is a usage error naming what its
    tracks have: a model cannot learn an instrument it never hears.
    """
    from tqdm.auto import tqdm

    folders = [(kind, folder, root) for root in roots for kind, folder in find_tracks(root)]
    readers = {"render": read_render_piece, "slakh": read_slakh_track}
    tracks = [
        readers[kind](folder, instruments, sample_rate)
        for kind, folder, _ in tqdm(folders, desc="reading tracks", unit="track", disable=not progress)
    ]
    heard = {i for track in tracks for i in track.stems}
    missing = [i for i in instruments if i not in heard]
    if missing:
        have = sorted({i for t in tracks for i in t.stems}) or ["none of the model's instruments"]
        raise UsageError(
            f"no track in {', '.join(map(str, roots))} has {', '.join(missing)} (its {len(tracks)} track(s) have "
            f"{', '.join(have)}); add data that has them (--data DIR) or train fewer instruments (--instruments)"
        )
    return tracks
