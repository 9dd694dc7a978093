"""A separation as a result folder: ``stemlime separate``'s output.

result = separate(stemlime.Pipeline(tagger=None, separator="spleeter:2stems"), "song.wav", "stems/")
result.files        # {"vocals": Path("stems/vocals.wav"), "accompaniment": ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import attrs

import numpy as np

from .audio import write_wav
from .errors import StemlimeError
from .fs import PathLike, ResultFolder
from .naming import safe_names
from .records import StemsRecord, write_stems_record

if TYPE_CHECKING:  # separation takes a pipeline; the pipeline knows nothing of result folders
    from .pipeline import Pipeline


def write_stems(
    stems: Mapping[str, np.ndarray],
    sample_rate: int,
    destination: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    force: bool = False,
    parts: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write a separation into ``destination``: ``<safe stem name>.wav`` (float32 WAV) per stem
    and ``stems.json`` (``{"stems": {stem: file}, "sample_rate": Hz}``), replacing the folder
    whole through :class:`stemlime.fs.ResultFolder` (kind ``stems``). Returns stem name -> final path.

    ``parts`` ({stem: :class:`stemlime.midi.Part`}, from a separator that transcribes) are
    written beside their WAVs as ``<safe stem name>.mid`` and listed under ``"midi"`` in
    ``stems.json``. ``inputs`` (the separated audio, the folder of true stems) are never overwritten.
    """
    from .midi import write_midi

    names = dict(zip(stems, safe_names(list(stems))))
    files = {stem: f"{name}.wav" for stem, name in names.items()}
    unknown = sorted(set(parts or {}) - set(stems))
    if unknown:
        raise StemlimeError(f"notes for {', '.join(unknown)}, which is not a stem of this separation ({', '.join(stems)})")
    midi_files = {stem: f"{names[stem]}.mid" for stem in stems if stem in (parts or {})}
    with ResultFolder(destination, kind="stems", inputs=inputs, force=force) as folder:
        for stem, audio in stems.items():
            write_wav(folder / files[stem], audio, sample_rate)
        for stem, file in midi_files.items():
            write_midi(folder / file, (parts or {})[stem], name=stem)
        write_stems_record(folder, StemsRecord(files, int(sample_rate), midi_files if parts is not None else None))
    return {stem: Path(destination) / file for stem, file in files.items()}


@attrs.frozen
class Separation:
    """What :func:`separate` wrote: each stem's WAV, and the number of notes of each ``.mid``."""

    files: dict[str, Path]  # stem -> its WAV
    notes: dict[str, int]  # stem -> notes in its .mid (with midi)

    def summary(self) -> str:
        """What ``stemlime separate`` prints: a line per stem."""
        return "\n".join(
            str(path) if stem not in self.notes else f"{path}  {path.with_suffix('.mid')} ({self.notes[stem]} notes)"
            for stem, path in self.files.items()
        )


def separate(
    pipeline: "Pipeline",
    source: Any,
    out: PathLike,
    *,
    start: float = 0.0,
    duration: float | None = None,
    force: bool = False,
    midi: bool = False,
) -> Separation:
    """Separate an excerpt of ``source`` (``start``/``duration`` in seconds) with the pipeline's
    separator into the folder ``out`` (:func:`write_stems`); ``midi`` also writes each stem's
    notes (a separator that transcribes). The output folder, and whether the separator
    transcribes, are checked before it runs; the folder never replaces an input (the audio, or
    the true stems the oracle reads)."""
    from .fs import check_destination

    inputs = pipeline.inputs_of(source)
    check_destination(out, inputs, force=force)
    if midi:
        pipeline.check_transcribes()
    stems, rate = pipeline.separate(source, start=start, duration=duration)
    parts = pipeline.transcribe(source, start=start, duration=duration) if midi else None
    files = write_stems(stems, rate, out, inputs=inputs, force=force, parts=parts)
    return Separation(files, {stem: len(part.notes) for stem, part in (parts or {}).items()})


__all__ = ["Separation", "separate", "write_stems"]
