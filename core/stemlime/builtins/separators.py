"""Built-in separators: ``oracle`` (stems you already have: a stem folder or a MUSDB18
``.stem.mp4``) and ``none`` (the mix itself)."""

from __future__ import annotations

import warnings
from pathlib import Path

import attrs
import numpy as np

from ..audio import fit_length, load_audio, resample, to_mono
from ..components import Excerpt
from ..errors import UsageError
from ..declarations import option
from ..residual import RESIDUAL_WARNING_DB, rest_stem, stems_residual_db
from ..stemfile import MUSDB18_STEMS, decode, is_stem_file, probe

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}
REST = "rest"
# Below this the difference between mix and stems holds more than 1 % of the mix's energy.
# On piece1_16k the WAV stems add up to 149 dB, the same stems each coded as MP3 or Vorbis
# to 21-26 dB, and leaving out the quietest stem (piano) gives 14 dB: 20 dB lets lossy
# coding pass and catches a missing stem.


def is_mixture_file(path: Path) -> bool:
    """A mixture by its name: ``mixture*.*`` (MUSDB18, stemlime render) or ``mix.*`` (Slakh)."""
    stem = path.stem.lower()
    return stem == "mix" or stem.startswith("mixture")


def is_hidden(path: Path) -> bool:
    """Hidden files, macOS's ``._NAME`` resource forks included."""
    return path.name.startswith(".")


def default_stem_folder(input_path: Path) -> Path:
    """The stem folder of a stem-folder layout, found from its mixture file.

    - Slakh / BabySlakh track: ``TrackNNNNN/mix.flac`` beside ``stems/`` -> ``stems/``.
    - MUSDB18 (decoded) and ``stemlime render`` folders: ``mixture.wav`` -> its own folder.

    Any other input gets no default: its folder may hold unrelated songs.
    """
    if not is_mixture_file(input_path):
        raise UsageError(
            f"oracle separator: {input_path.name} is not named mixture.* or mix.*, so its folder is not taken for a "
            "folder of its stems (it may hold other songs); give dir=FOLDER with one audio file per stem"
        )
    slakh_stems = input_path.parent / "stems"
    return slakh_stems if slakh_stems.is_dir() else input_path.parent


def find_stem_files(folder: Path, exclude: Path | None = None) -> dict[str, Path]:
    """``{stem name: file}`` for the audio files in ``folder``, named after the file without suffix.

    Skips hidden files, the explained input (``exclude``) and mixture files (``mixture*``,
    ``mix.*``). Two files that would give the same stem name are a UsageError.
    """
    if not folder.is_dir():
        raise UsageError(f"oracle separator: stem folder {folder} does not exist; give dir=FOLDER with one audio file per stem")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES or is_hidden(path) or is_mixture_file(path):
            continue
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        if path.stem in found:
            raise UsageError(
                f"oracle separator: {found[path.stem].name} and {path.name} in {folder} would both be stem {path.stem!r}; keep one of them"
            )
        found[path.stem] = path
    return found


def _stem_folder(dir: str | Path | None) -> Path | None:
    if dir is not None and not str(dir).strip():
        raise UsageError("oracle separator: dir= is empty; give dir=FOLDER (use dir=. for the current folder)")
    return Path(str(dir).strip()).expanduser() if dir is not None else None


def _some_stems(instance: object, attribute: object, stems: str | None) -> None:
    if stems is not None and not [s for s in stems.split(";") if s.strip()]:
        raise UsageError("oracle separator: stems= is empty; name the stems to use, e.g. stems=vocals;drums")


@attrs.define
class OracleSeparator:
    """Reads the true stems from a folder: one audio file per stem, named after the file.

    A MUSDB18 ``.stem.mp4`` input (without ``dir``) holds its own stems: streams 1-4, named
    ``drums``, ``bass``, ``other``, ``vocals`` (:data:`stemlime.stemfile.MUSDB18_STEMS`); a
    stem file with other than 5 streams is a UsageError (its stems have no names).

    Without ``dir``, the folder comes from the input's stem-folder layout (see
    :func:`default_stem_folder`): an input named ``mixture.*`` or ``mix.*`` whose folder
    holds its stems, or a Slakh track whose stems are in ``stems/``. Slakh stems keep
    their file names (``S00``, ``S01``, ...): ``metadata.yaml``'s instrument classes are
    not read, so no YAML parser is needed and two stems of one class stay apart.

    After each :meth:`separate`, ``last_residual_db`` says how closely the folder's stems add
    up to the mix (:func:`stemlime.residual.stems_residual_db`, in dB, higher = better; the
    ``rest`` stem is not counted). Below ``RESIDUAL_WARNING_DB`` a warning says so, unless
    ``rest=True`` adds the difference as a stem named ``rest``.
    """

    sample_rate = None  # stems are read at whatever rate the pipeline asks for
    reads_excerpt = True  # reads the excerpt of each stem file itself (protocol slot)

    # "str", not "path": a path option turns an empty dir= into the current folder
    dir: Path | None = option(
        None, "folder holding the stems (default: the folder of an input named mixture.* or mix.*)", type="str", converter=_stem_folder
    )
    stems: str | None = option(None, "stem names to use, separated by ';' (default: every audio file found)", validator=_some_stems)
    rest: bool = option(False, "add a stem 'rest' = mix - sum of the stems, so that they add up to the mix", converter=bool)
    last_residual_db: float | None = attrs.field(default=None, init=False)

    @property
    def stem_names(self) -> list[str] | None:
        """The stems named by ``stems=`` (None: every audio file found)."""
        return [s.strip() for s in self.stems.split(";") if s.strip()] if self.stems is not None else None

    def stem_folder(self, excerpt: Excerpt | None) -> Path:
        if self.dir is not None:
            return self.dir
        if excerpt is not None and excerpt.path is not None:
            return default_stem_folder(Path(excerpt.path))
        raise UsageError("oracle separator: explaining an array needs the stems' folder: give dir=FOLDER")

    def inputs(self, source: object) -> list[Path]:
        """The folder of true stems this separator reads for ``source`` (protocol slot): an
        output folder must never replace it. None known (an array without dir=, a file that is
        not a mixture): nothing. A ``.stem.mp4`` holds its own stems: the file itself."""
        if self.dir is not None:
            return [self.dir]
        if isinstance(source, (str, Path)) and is_stem_file(source):
            return [Path(source)]
        if isinstance(source, (str, Path)) and is_mixture_file(Path(source)):
            return [default_stem_folder(Path(source))]
        return []

    def stem_files(self, folder: Path, exclude: Path | None = None) -> dict[str, Path]:
        """The stem files to read: all of ``folder``'s, or those named by ``stems=``."""
        found = find_stem_files(folder, exclude)
        if self.rest and REST in found:
            raise UsageError(f"oracle separator: {found[REST].name} in {folder} is already a stem named 'rest'; drop rest=true")
        if self.stem_names is not None:
            missing = [name for name in self.stem_names if name not in found]
            if missing:
                raise UsageError(f"oracle separator: no stem file for {missing} in {folder}; found: {', '.join(found) or 'none'}")
            found = {name: found[name] for name in self.stem_names}
        if not found:
            raise UsageError(
                f"oracle separator: no stem files in {folder} (looked for {', '.join(sorted(AUDIO_SUFFIXES))} files "
                "other than the input, mixture* and mix.*). Put one audio file per stem there, or give dir=FOLDER."
            )
        return found

    def separate(self, audio: np.ndarray, sample_rate: int, excerpt: Excerpt | None = None) -> dict[str, np.ndarray]:
        """The stems' excerpts, mono, at ``sample_rate`` Hz, each as long as ``audio``."""
        if self.dir is None and excerpt is not None and excerpt.path is not None and is_stem_file(excerpt.path):
            return self._separate_stem_file(Path(excerpt.path), audio, sample_rate, excerpt)
        folder = self.stem_folder(excerpt)
        exclude = Path(excerpt.path) if excerpt is not None and excerpt.path else None
        start = excerpt.start if excerpt is not None else 0.0
        duration = excerpt.duration if excerpt is not None else len(audio) / sample_rate
        stems = {
            name: fit_length(load_audio(path, sample_rate, start, duration)[0], len(audio))
            for name, path in self.stem_files(folder, exclude).items()
        }
        mix = to_mono(audio)
        self.last_residual_db = stems_residual_db(mix, stems)
        if self.rest:
            stems[REST] = rest_stem(mix, stems)
        elif self.last_residual_db < RESIDUAL_WARNING_DB:
            warnings.warn(residual_warning(folder, self.last_residual_db), stacklevel=2)
        return stems

    def _stem_file_streams(self, path: Path) -> dict[str, int]:
        """``{MUSDB18 stem name: stream}`` of a ``.stem.mp4`` (streams 1-4), those of ``stems=`` if given."""
        streams = probe(path).streams
        if streams != 1 + len(MUSDB18_STEMS):
            raise UsageError(
                f"oracle separator: {path} has {streams} audio streams; a MUSDB18 .stem.mp4 has 5 (mixture, "
                f"{', '.join(MUSDB18_STEMS)}), so its stems cannot be named. Decode its stems to WAV files and give dir=FOLDER"
            )
        found = {name: index + 1 for index, name in enumerate(MUSDB18_STEMS)}
        if self.stem_names is not None:
            missing = [name for name in self.stem_names if name not in found]
            if missing:
                raise UsageError(f"oracle separator: no stem {missing} in {path}; it holds: {', '.join(found)}")
            found = {name: found[name] for name in self.stem_names}
        return found

    def _separate_stem_file(self, path: Path, audio: np.ndarray, sample_rate: int, excerpt: Excerpt) -> dict[str, np.ndarray]:
        """The stems of a MUSDB18 ``.stem.mp4`` (streams 1-4), mono at ``sample_rate`` Hz, as long as ``audio``."""
        stems = {}
        for name, stream in self._stem_file_streams(path).items():
            decoded, rate = decode(path, stream, excerpt.start, excerpt.duration)
            stems[name] = fit_length(resample(to_mono(decoded), rate, sample_rate), len(audio))
        return self._finish(path, audio, stems)

    def _finish(self, where: Path, audio: np.ndarray, stems: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        mix = to_mono(audio)
        self.last_residual_db = stems_residual_db(mix, stems)
        if self.rest:
            stems[REST] = rest_stem(mix, stems)
        elif self.last_residual_db < RESIDUAL_WARNING_DB:
            warnings.warn(residual_warning(where, self.last_residual_db), stacklevel=3)
        return stems


def residual_warning(folder: Path, residual_db: float) -> str:
    """The one-line warning for stems that do not add up to the mix."""
    share = 100.0 * 10.0 ** (-residual_db / 10.0)  # the difference's energy in % of the mix's
    return (
        f"oracle stems in {folder} add up to the mix only to {residual_db:.1f} dB (the difference holds {share:.3g}% "
        "of the mix's energy: a stem is missing, gains differ, or these are not this mix's stems); "
        "add rest=true to explain the difference as a 'rest' component"
    )


class MixSeparator:
    """No separation: the mix is the only stem."""

    sample_rate = None
    reads_excerpt = True  # the excerpt's mix is its only stem: nothing to separate or cache

    def separate(self, audio: np.ndarray, sample_rate: int, excerpt: Excerpt | None = None) -> dict[str, np.ndarray]:
        return {"mix": np.asarray(audio, dtype=np.float32)}
