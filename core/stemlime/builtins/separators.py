"""Built-in separators: ``oracle`` (stems you already have) and ``none`` (the mix itself)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio import fit_length, load_audio
from ..components import Excerpt
from ..errors import UsageError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}


class OracleSeparator:
    """Reads the true stems from a folder (MUSDB18- and Slakh-style folders work as they are).

    Every audio file in the folder is a stem named after its file, except the explained
    input itself and files whose name starts with ``mixture``.
    """

    sample_rate = None  # stems are read at whatever rate the pipeline asks for

    def __init__(self, dir: Path | None = None, stems: str | None = None):
        self.dir = Path(dir) if dir is not None else None
        self.stem_names = [s.strip() for s in stems.split(";") if s.strip()] if stems else None

    def stem_files(self, folder: Path, exclude: Path | None = None) -> dict[str, Path]:
        if not folder.is_dir():
            raise UsageError(f"oracle separator: stem folder {folder} does not exist")
        found = {
            path.stem: path
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in AUDIO_SUFFIXES
            and not path.stem.lower().startswith("mixture")
            and (exclude is None or path.resolve() != exclude.resolve())
        }
        if self.stem_names is not None:
            missing = [name for name in self.stem_names if name not in found]
            if missing:
                raise UsageError(f"oracle separator: no stem file for {missing} in {folder}; found: {', '.join(found) or 'none'}")
            found = {name: found[name] for name in self.stem_names}
        if not found:
            raise UsageError(
                f"oracle separator: no stem files in {folder} (looked for {', '.join(sorted(AUDIO_SUFFIXES))} files "
                "other than the input and mixture*). Put one audio file per stem there, or give dir=FOLDER."
            )
        return found

    def separate(self, audio: np.ndarray, sample_rate: int, excerpt: Excerpt | None = None) -> dict[str, np.ndarray]:
        """The stems' excerpts, mono, at ``sample_rate``, each as long as ``audio``."""
        if self.dir is not None:
            folder = self.dir
        elif excerpt is not None and excerpt.path is not None:
            folder = Path(excerpt.path).parent
        else:
            raise UsageError("oracle separator: explaining an array needs the stems' folder: give dir=FOLDER")
        exclude = Path(excerpt.path) if excerpt is not None and excerpt.path else None
        start = excerpt.start if excerpt is not None else 0.0
        duration = excerpt.duration if excerpt is not None else len(audio) / sample_rate
        return {
            name: fit_length(load_audio(path, sample_rate, start, duration)[0], len(audio))
            for name, path in self.stem_files(folder, exclude).items()
        }


class MixSeparator:
    """No separation: the mix is the only stem."""

    sample_rate = None

    def separate(self, audio: np.ndarray, sample_rate: int, excerpt: Excerpt | None = None) -> dict[str, np.ndarray]:
        return {"mix": np.asarray(audio, dtype=np.float32)}
