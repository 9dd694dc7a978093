"""Result folders written whole, with safe file names: nothing the user had is ever lost.

Every writer in stemlime (``Explanation.save``, ``write_stems``, and the commands that build on
them) goes through this module:

    with ResultFolder("out/", kind="explanation", inputs=["song.wav"]) as folder:
        write_wav(folder / "components" / "vocals.wav", audio, 16000)
    # out/ now holds exactly this run; after any exception it holds what it held before

A result folder is built in a hidden sibling (``.out.tmp-XXXX``, same parent, so the final
rename stays on one filesystem) and swapped in at the end. Only an earlier stemlime output
(it carries the marker file ``.stemlime-output.json``) or an empty folder is replaced without
``force``; a folder holding an input of the run is never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .audio import write_wav
from .errors import StemlimeError, UsageError

MARKER = ".stemlime-output.json"  # inside every result folder: what wrote it
MAX_NAME_BYTES = 200  # ext4 allows 255 bytes per name: room left for "-N" and an extension
KEPT_PUNCTUATION = frozenset(".@_-")  # besides Unicode letters, marks and digits
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
SWAP_ATTEMPTS = 50  # concurrent runs into one folder take turns; each turn is two renames

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------- file names


def _truncate(name: str, max_bytes: int) -> str:
    """``name`` cut to at most ``max_bytes`` bytes of UTF-8, never inside a character."""
    encoded = name.encode("utf-8")
    if len(encoded) <= max_bytes:
        return name
    return encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip("._")


def safe_name(text: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A file name (without extension) made from any label, stem or component text.

    Unicode letters, marks and digits are kept (NFC-normalised), as are ``.@_-``; every run of
    other characters (path separators, spaces, control characters, ``<>:"|?*``...) becomes one
    ``_``. Leading dots (hidden files) and leading dashes (read as options) are dropped,
    Windows' reserved device names get a leading ``_``, and the result is at most ``max_bytes``
    bytes of UTF-8. Never empty: text with nothing to keep becomes ``unnamed``.
    """
    text = unicodedata.normalize("NFC", str(text))
    kept = "".join(c if c in KEPT_PUNCTUATION or unicodedata.category(c)[0] in "LMN" else "\0" for c in text)
    name = re.sub("\0+", "_", kept).strip("._").lstrip("-")
    if name.split(".")[0].upper() in WINDOWS_RESERVED:
        name = "_" + name
    return _truncate(name, max_bytes) or "unnamed"


def _collision_key(name: str) -> str:
    # case-insensitive and normalisation-insensitive, as on macOS and Windows filesystems
    return unicodedata.normalize("NFC", name.casefold())


def safe_names(texts: Sequence[str], max_bytes: int = MAX_NAME_BYTES) -> list[str]:
    """One safe, distinct file name per text, in input order (see :func:`safe_name`).

    Names that would collide, even only in letter case, get ``-2``, ``-3``, ... in input order:
    ``["rock/pop", "rock_pop", "Rock_pop"]`` -> ``["rock_pop", "rock_pop-2", "Rock_pop-3"]``.
    Every name, suffix included, fits in ``max_bytes`` bytes of UTF-8.
    """
    taken: set[str] = set()
    names = []
    for text in texts:
        base = safe_name(text, max_bytes)
        name, number = base, 1
        while _collision_key(name) in taken:
            number += 1
            suffix = f"-{number}"
            name = _truncate(base, max_bytes - len(suffix)) + suffix
        taken.add(_collision_key(name))
        names.append(name)
    return names


# ---------------------------------------------------------------------------- destinations


def is_stemlime_output(folder: PathLike) -> bool:
    """Whether ``folder`` is a result folder that stemlime wrote (it holds the marker file)."""
    return (Path(folder) / MARKER).is_file()


def _holds(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def check_destination(destination: PathLike, inputs: Iterable[PathLike | None] = (), force: bool = False) -> Path:
    """Refuse, with a UsageError that says what to do, a destination a result may not replace.

    Call it before any expensive work; :class:`ResultFolder` calls it again when it swaps the
    result in. Refused: a folder holding any of ``inputs`` (files or folders of this run: the
    audio, its stems), even with ``force``; the current folder or one above it; an existing
    file; a folder with a parent that is a file or not writable; and, unless ``force``, a
    non-empty folder that is not a stemlime output. Returns the destination, resolved.
    """
    target = Path(destination).expanduser().resolve()
    for given in inputs:
        if given is None:
            continue
        path = Path(given).expanduser().resolve()
        if _holds(target, path):
            relation = "is" if path == target else "holds"
            raise UsageError(
                f"the output folder {destination} {relation} {given}, an input of this run, and stemlime never "
                "replaces its own input; choose another output folder (--out), e.g. a new folder next to it"
            )
    if _holds(target, Path.cwd().resolve()):
        raise UsageError(
            f"the output folder {destination} is the current folder or one above it, and a result replaces its "
            "folder whole; choose a new folder for it (--out), e.g. out/"
        )
    if target.exists() and not target.is_dir():
        raise UsageError(f"the output folder {destination} is an existing file; choose another output folder (--out)")
    if target.is_dir() and not force and not is_stemlime_output(target):
        entries = sorted(path.name for path in target.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
            raise UsageError(
                f"the output folder {destination} holds files that stemlime did not write ({shown}); a result replaces "
                "its folder whole, so choose another output folder (--out, a new or empty one), or give --force "
                "(force=True in Python) to replace it and delete what it holds"
            )
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"cannot create the output folder {destination}: {parent} is a file; choose another output folder (--out)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot create the output folder {destination}: no permission to write in {parent}; "
            "choose an output folder (--out) in a folder you can write to"
        )
    return target


def _sibling(target: Path, role: str) -> Path:
    return target.parent / f".{target.name}.{role}-{secrets.token_hex(4)}"


class ResultFolder:
    """A context manager that builds a result in a temporary sibling folder and swaps it in.

    ``with ResultFolder(destination, kind) as folder:`` gives the temporary folder to write
    into. On leaving without an exception, the marker file (``kind`` and the stemlime version)
    is written and the folder replaces ``destination``, which then holds exactly this run.
    On any exception (KeyboardInterrupt included) the temporary folder is deleted and
    ``destination`` keeps what it held. Of concurrent runs into one destination the last to
    finish wins; the destination never holds a mix of runs. ``inputs`` and ``force`` are
    those of :func:`check_destination`, which runs on entering and again before the swap.
    """

    def __init__(self, destination: PathLike, kind: str = "explanation", *, inputs: Iterable[PathLike | None] = (),
                 force: bool = False):
        self.destination = Path(destination)
        self.kind = kind
        self.inputs = tuple(inputs)
        self.force = force
        self.staging: Path | None = None

    def __enter__(self) -> Path:
        target = check_destination(self.destination, self.inputs, self.force)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            while self.staging is None:
                staging = _sibling(target, "tmp")
                try:
                    staging.mkdir()
                    self.staging = staging
                except FileExistsError:
                    continue
        except OSError as error:
            raise UsageError(
                f"cannot create the output folder {self.destination}: {error.strerror or error}; "
                "choose an output folder (--out) in a folder you can write to"
            ) from error
        return self.staging

    def __exit__(self, exc_type, exc, traceback) -> bool:
        try:
            if exc_type is None:
                self._swap_in()
        finally:
            if self.staging is not None and self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
        return False

    def _swap_in(self) -> None:
        from . import __version__  # imported here: the package imports this module while it starts

        assert self.staging is not None
        (self.staging / MARKER).write_text(json.dumps({"kind": self.kind, "stemlime": __version__}) + "\n")
        asides: list[Path] = []  # what stood at the destination before, moved out of the way
        try:
            for _ in range(SWAP_ATTEMPTS):
                target = check_destination(self.destination, self.inputs, self.force)
                if target.exists():
                    aside = _sibling(target, "old")
                    try:
                        target.rename(aside)
                    except FileNotFoundError:  # another run moved it first
                        continue
                    asides.append(aside)
                try:
                    self.staging.rename(target)
                    break
                except OSError as error:  # another run put its result in place first: take our turn again
                    if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                        raise
            else:
                raise StemlimeError(
                    f"other runs kept writing to {self.destination} while this one tried to save; "
                    "run again, or give each run its own output folder (--out)"
                )
        except BaseException:
            target = self.destination.expanduser().resolve()
            if asides and not target.exists():  # put back what stood there
                with contextlib.suppress(OSError):  # unless another run's result took its place
                    asides[-1].rename(target)
                    asides.pop()
            raise
        finally:
            for aside in asides:
                shutil.rmtree(aside, ignore_errors=True)


# ---------------------------------------------------------------------------- stems


def write_stems(stems: Mapping[str, np.ndarray], sample_rate: int, destination: PathLike, *,
                inputs: Iterable[PathLike | None] = (), force: bool = False,
                parts: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write a separation into ``destination``: ``<safe stem name>.wav`` (float32 WAV) per stem
    and ``stems.json`` (``{"stems": {stem: file}, "sample_rate": Hz}``), replacing the folder
    whole through :class:`ResultFolder` (kind ``stems``). Returns stem name -> final path.

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
            write_midi(folder / file, parts[stem], name=stem)
        summary = {"stems": files, "sample_rate": int(sample_rate)} | ({"midi": midi_files} if parts is not None else {})
        (folder / "stems.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return {stem: Path(destination) / file for stem, file in files.items()}


# ---------------------------------------------------------------------------- resumable folders


def write_text_atomically(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary sibling and a rename: a reader, or a
    run interrupted half-way, never sees half a file."""
    from .verified_copy import replace_atomically

    path = Path(path)
    replace_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    return path


def marker_kind(folder: PathLike) -> str | None:
    """The ``kind`` in a stemlime output's marker (``explanation``, ``stems``, ``dataset``, ...), or None."""
    try:
        return json.loads((Path(folder) / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def remove_staging(folder: PathLike) -> int:
    """Delete what interrupted :class:`ResultFolder` swaps left in ``folder``: the hidden
    ``.NAME.tmp-XXXX`` and ``.NAME.old-XXXX`` siblings. Returns how many were removed."""
    removed = 0
    for path in Path(folder).glob(".*.*-*"):
        if path.is_dir() and re.fullmatch(r"\..+\.(tmp|old)-[0-9a-f]{8}", path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


LOCK_NAME = ".stemlime-lock"


class ResumableFolder:
    """A result folder filled piece by piece across runs (``explain-dataset``'s OUT), as a context manager.

    It cannot be swapped in whole like a :class:`ResultFolder`: a rerun keeps what earlier runs
    finished. So each piece inside it is written atomically on its own (a ``ResultFolder`` per
    track, :func:`write_text_atomically` for the summary files), and the folder itself follows
    :func:`check_destination`'s rules, with one change: it is never replaced, so there is no
    ``force``. Refused: a folder holding an input of the run (e.g. the dataset), the current
    folder or one above it, a file, a non-empty folder that stemlime did not write, and a
    stemlime output of another kind (a single explanation's folder). Accepted: a new or empty
    folder, or an earlier run of the same ``kind``.

    On entering, the folder is created and marked with ``kind``, a lock is taken (a second run
    into the same folder is refused while the first holds it) and what interrupted swaps left
    in ``subfolders`` is removed. Leaving releases the lock and deletes nothing.
    """

    def __init__(self, destination: PathLike, kind: str, *, inputs: Iterable[PathLike | None] = (),
                 subfolders: Sequence[str] = ()):
        self.destination = Path(destination)
        self.kind = kind
        self.inputs = tuple(inputs)
        self.subfolders = tuple(subfolders)
        self._lock: int | None = None

    def check(self) -> Path:
        """Refuse a destination this run may not fill (a UsageError that says what to do); the resolved path."""
        target = check_destination(self.destination, self.inputs, force=True)
        if target.is_dir():
            kind = marker_kind(target)
            if is_stemlime_output(target) and kind != self.kind:
                raise UsageError(
                    f"the output folder {self.destination} holds a stemlime {kind or 'unknown'} result, not a {self.kind} "
                    f"run, and a {self.kind} run adds to its folder instead of replacing it; choose another output "
                    "folder (--out), a new or empty one"
                )
            entries = sorted(path.name for path in target.iterdir())
            if entries and not is_stemlime_output(target):
                shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
                raise UsageError(
                    f"the output folder {self.destination} holds files that stemlime did not write ({shown}); a {self.kind} "
                    "run adds its results to its folder and never deletes what it did not write, so choose another "
                    "output folder (--out), a new or empty one"
                )
        return target

    def __enter__(self) -> Path:
        import fcntl

        from . import __version__  # the package imports this module while it starts

        target = self.check()
        try:
            target.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(target / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise UsageError(f"cannot create the output folder {self.destination}: {error.strerror or error}; "
                             "choose an output folder (--out) in a folder you can write to") from error
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock)
            self._lock = None
            raise UsageError(f"another run is writing to {self.destination} right now; wait for it to finish, "
                             "or give this run its own output folder (--out)") from None
        if not is_stemlime_output(target):
            write_text_atomically(target / MARKER, json.dumps({"kind": self.kind, "stemlime": __version__}) + "\n")
        for name in self.subfolders:
            (target / name).mkdir(exist_ok=True)
            remove_staging(target / name)
        return target

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if self._lock is not None:
            os.close(self._lock)  # closing releases the flock
            self._lock = None
        return False
