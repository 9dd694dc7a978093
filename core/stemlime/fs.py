"""Files and folders written so that nothing the user had is lost and no reader sees half of anything.

Every writer in stemlime and its plugins goes through this module; it is the one mechanism for:

- **one file** (:func:`write_atomically`, :func:`write_text_atomically`): written under a
  temporary sibling name, then renamed over its path. A reader (another process loading the
  same model or stems, a page being served) sees the old file or the new one, never half.
- **a staged folder** (:class:`StagedFolder`): built in a hidden sibling and swapped in whole
  at the end; after any exception (KeyboardInterrupt included) the staging is deleted and the
  target keeps what it held. The model cache's fetch and build use it as it is.
- **a result folder** (:class:`ResultFolder`): a staged folder whose destination the user
  chose, so it is checked first (:func:`check_destination`): only an earlier stemlime output
  (it carries the marker file ``.stemlime-output.json``) or an empty folder is replaced
  without ``force``, a folder holding an input of the run never, and neither is a folder
  inside another stemlime result (unless the result is being built there, ``within``).
- **a resumable folder** (:class:`ResumableFolder`): a result folder filled piece by piece
  across runs (``explain-dataset``'s OUT, ``render-dataset``'s, a training run's), never
  replaced, each piece written atomically on its own, under a lock (:func:`folder_lock`) so
  that a second run into the same folder is refused while the first holds it.

    with ResultFolder("out/", kind="explanation", inputs=["song.wav"]) as folder:
        write_wav(folder / "components" / "vocals.wav", audio, 16000)
    # out/ now holds exactly this run; after any exception it holds what it held before
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .errors import StemlimeError, UsageError

MARKER = ".stemlime-output.json"  # inside every result folder: what wrote it
LOCK_NAME = ".stemlime-lock"  # inside a resumable folder while a run fills it
SWAP_ATTEMPTS = 50  # concurrent runs into one folder take turns; each turn is two renames

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------- files given to read


def file_problem(path: PathLike, what: str = "file") -> str | None:
    """Why ``path`` cannot be read as a file, as a sentence that names it (``what`` says what
    it should be: "audio file", "pipeline file"): "audio file x.wav is a folder, not a file";
    None when it is a readable regular file. Every "give a file" check words its refusal with
    it, so that a folder, an empty name or a broken link is never called missing."""
    if isinstance(path, str) and not path.strip():
        return f"the {what} name is empty"
    path = Path(path)
    try:
        if path.is_file():
            return None if os.access(path, os.R_OK) else f"{what} {path} cannot be read (no permission)"
        if path.is_dir():
            return f"{what} {path} is a folder, not a file"
    except OSError as error:  # a loop of symbolic links, a name too long
        return f"{what} {path} cannot be opened ({error.strerror or error})"
    if os.path.lexists(path):
        return (
            f"{what} {path} is a symbolic link that leads nowhere (a broken link, or a loop of links)"
            if path.is_symlink()
            else f"{what} {path} is not a regular file"
        )
    return f"{what} {path} does not exist"


# ---------------------------------------------------------------------------- one file


def write_atomically(path: PathLike, write_to: Callable[[Path], Any]) -> Path:
    """Call ``write_to(temporary)`` with a temporary sibling of ``path``, then rename it over
    ``path``: a reader, or a run interrupted half-way, never sees a half-written file. The
    temporary file is removed whatever happens. Returns ``path``."""
    path = Path(path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(2)}.tmp")
    try:
        write_to(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_text_atomically(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`write_atomically`."""
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


# ---------------------------------------------------------------------------- markers


def is_stemlime_output(folder: PathLike) -> bool:
    """Whether ``folder`` is a result folder that stemlime wrote (it holds the marker file)."""
    return (Path(folder) / MARKER).is_file()


def marker_kind(folder: PathLike) -> str | None:
    """The ``kind`` in a stemlime output's marker (``explanation``, ``stems``, ``dataset``, ...), or None."""
    try:
        return json.loads((Path(folder) / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def write_marker(folder: PathLike, kind: str, data: bool = False) -> None:
    """Mark ``folder`` as a stemlime result of ``kind`` (with the stemlime version that wrote it);
    ``data``: it is audio for other runs to read (a render), not derived output."""
    from .version import __version__

    marker = {"kind": kind, "stemlime": __version__} | ({"data": True} if data else {})
    write_text_atomically(Path(folder) / MARKER, json.dumps(marker) + "\n")


def is_data_folder(folder: PathLike) -> bool:
    """Whether ``folder`` is a stemlime result marked as data (a rendered song or dataset): a
    dataset reads its audio, as it skips every other result folder's derived audio."""
    try:
        return bool(json.loads((Path(folder) / MARKER).read_text()).get("data"))
    except (OSError, ValueError, AttributeError):
        return False


def enclosing_result(path: PathLike) -> Path | None:
    """The nearest folder ABOVE ``path`` that is a stemlime result folder, or None."""
    for parent in Path(path).expanduser().resolve().parents:
        if is_stemlime_output(parent):
            return parent
    return None


# ---------------------------------------------------------------------------- destinations


def _holds(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def _listing(folder: Path) -> str:
    entries = sorted(path.name for path in folder.iterdir())
    return ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")


def _resolved(path: PathLike, what: str) -> Path:
    """``path`` made absolute with its links followed; a UsageError naming it when they loop."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as error:  # a loop of symbolic links (RuntimeError before Python 3.13)
        raise UsageError(
            f"the {what} {path} cannot be followed to a file or folder: its symbolic links form a loop ({error}); give a real path"
        ) from None


def check_destination(
    destination: PathLike,
    inputs: Iterable[PathLike | None] = (),
    force: bool = False,
    within: PathLike | None = None,
    read_inside: Iterable[PathLike | None] = (),
) -> Path:
    """Refuse, with a UsageError that says what to do, a destination a result may not replace.

    Call it before any expensive work; :class:`ResultFolder` calls it again when it swaps the
    result in. Refused: a folder holding any of ``inputs`` (files or folders of this run: the
    audio, its stems), even with ``force``, or lying inside a folder of ``read_inside`` (a dataset,
    read with its subfolders); the current folder or one above it; an existing
    file; a folder with a parent that is a file or not writable; a folder inside another
    stemlime result (a track of a dataset, a snippet of a scan), unless that result is
    ``within``, the one this run is building; and, unless ``force``, a non-empty folder that is
    not a stemlime output. Returns the destination, resolved.
    """
    if not str(destination).strip():
        raise UsageError("the output folder name is empty; name a new folder (--out), e.g. out/")
    target = _resolved(destination, "output folder")
    for given in inputs:
        if given is None or not str(given).strip():  # an empty name: the reader of that input refuses it
            continue
        path = _resolved(given, "input")
        if _holds(target, path):
            relation = "is" if path == target else "holds"
            raise UsageError(
                f"the output folder {destination} {relation} {given}, an input of this run, and stemlime never "
                "replaces its own input; choose another output folder (--out), e.g. a new folder next to it"
            )
    for given in read_inside:  # data folders, read with all their subfolders: the next run would take the results for data
        if given is not None and str(given).strip() and _holds(_resolved(given, "input"), target):
            raise UsageError(
                f"the output folder {destination} lies inside {given}, an input folder of this run, and stemlime never "
                "writes into its input (the next run would read the results as input); choose an output folder (--out) "
                "outside it"
            )
    if _holds(target, Path.cwd().resolve()):
        raise UsageError(
            f"the output folder {destination} is the current folder or one above it, and a result replaces its "
            "folder whole; choose a new folder for it (--out), e.g. out/"
        )
    if target.exists() and not target.is_dir():
        raise UsageError(f"the output folder {destination} is an existing file; choose another output folder (--out)")
    outer = enclosing_result(target)
    if outer is not None and (within is None or outer != Path(within).expanduser().resolve()):
        raise UsageError(
            f"the output folder {destination} lies inside {outer}, a stemlime {marker_kind(outer) or 'result'} folder, "
            "whose parts are written by the run that made it; choose an output folder (--out) outside it"
        )
    if target.is_dir() and not force and not is_stemlime_output(target):
        if any(target.iterdir()):
            raise UsageError(
                f"the output folder {destination} holds files that stemlime did not write ({_listing(target)}); a result "
                "replaces its folder whole, so choose another output folder (--out, a new or empty one), or give --force "
                "to replace it and delete what it holds"
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


# ---------------------------------------------------------------------------- staged folders


def _sibling(target: Path, role: str) -> Path:
    return target.parent / f".{target.name}.{role}-{secrets.token_hex(4)}"


def remove_staging(folder: PathLike) -> int:
    """Delete what interrupted swaps left in ``folder``: the hidden ``.NAME.tmp-XXXXXXXX`` and
    ``.NAME.old-XXXXXXXX`` siblings. Returns how many were removed."""
    removed = 0
    for path in Path(folder).glob(".*.*-*"):
        if path.is_dir() and re.fullmatch(r"\..+\.(tmp|old)-[0-9a-f]{8}", path.name):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


class StagedFolder:
    """A context manager that builds a folder in a hidden sibling of ``target`` and swaps it in whole.

    ``with StagedFolder(target) as folder:`` gives the staging folder to write into. On leaving
    without an exception, ``before_swap(staging)`` runs (e.g. writes a marker) and the staging
    replaces ``target``, which then holds exactly this run. On any exception (KeyboardInterrupt
    included) the staging is deleted and ``target`` keeps what it held. Of concurrent runs into
    one target the last to finish wins; the target never holds a mix of runs. ``check()`` runs
    before each attempt to swap (a destination may have changed while the run worked) and
    returns the resolved target.
    """

    def __init__(
        self,
        target: PathLike,
        *,
        check: Callable[[], Path] | None = None,
        before_swap: Callable[[Path], None] | None = None,
        what: str = "the folder",
    ):
        self.target = Path(target)
        self.check = check or (lambda: self.target.expanduser().resolve())
        self.before_swap = before_swap
        self.what = what
        self.staging: Path | None = None

    def __enter__(self) -> Path:
        target = self.check()
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
                f"cannot create {self.what} {self.target}: {error.strerror or error}; choose a folder (--out) in a folder you can write to"
            ) from error
        return self.staging

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                if self.before_swap is not None:
                    assert self.staging is not None  # set by __enter__
                    self.before_swap(self.staging)
                self._swap_in()
        finally:
            if self.staging is not None and self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
        return None

    def _swap_in(self) -> None:
        assert self.staging is not None
        asides: list[Path] = []  # what stood at the target before, moved out of the way
        try:
            for _ in range(SWAP_ATTEMPTS):
                target = self.check()
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
                    f"other runs kept writing to {self.target} while this one tried to save; "
                    "run again, or give each run its own output folder (--out)"
                )
        except BaseException:
            target = self.target.expanduser().resolve()
            if asides and not target.exists():  # put back what stood there
                with contextlib.suppress(OSError):  # unless another run's result took its place
                    asides[-1].rename(target)
                    asides.pop()
            raise
        finally:
            for aside in asides:
                shutil.rmtree(aside, ignore_errors=True)


class ResultFolder(StagedFolder):
    """A :class:`StagedFolder` at a destination the user chose, checked by :func:`check_destination`
    on entering and again before the swap (``inputs``, ``force``, ``within`` are its arguments),
    and marked with ``kind`` (and the stemlime version) when it is swapped in."""

    def __init__(
        self,
        destination: PathLike,
        kind: str = "explanation",
        *,
        inputs: Iterable[PathLike | None] = (),
        force: bool = False,
        within: PathLike | None = None,
        data: bool = False,
    ):
        self.destination = Path(destination)
        self.kind = kind
        self.inputs = tuple(inputs)
        self.force = force
        self.within = within
        super().__init__(
            destination,
            check=lambda: check_destination(self.destination, self.inputs, self.force, self.within),
            before_swap=lambda staging: write_marker(staging, kind, data),
            what="the output folder",
        )


# ---------------------------------------------------------------------------- resumable folders


@contextlib.contextmanager
def folder_lock(folder: PathLike, what: str = "this folder") -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (the file ``.stemlime-lock`` in it, which the folder
    must already have room for) for the block: a second run that asks for it meanwhile gets a
    UsageError at once. The lock goes with the process: a run that is killed leaves no lock
    (only the empty file, which the next run takes); a run that ends removes the file."""
    import fcntl

    path = Path(folder) / LOCK_NAME
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise UsageError(
            f"cannot create {what} {folder}: {error.strerror or error}; choose an output folder (--out) in a folder you can write to"
        ) from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        raise UsageError(
            f"another run is writing to {folder} right now; wait for it to finish, or give this run its own output folder (--out)"
        ) from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still held: no other run can hold a lock on the removed file
        os.close(handle)  # closing releases the flock


_FIRST_USES_DONE: set[str] = set()  # what this process has run once under first_use


def first_use_lock() -> Path:
    """The machine-wide lock file (one per user) that :func:`first_use` waits for."""
    return Path(tempfile.gettempdir()) / f"stemlime-first-use-{os.getuid()}.lock"


@contextlib.contextmanager
def first_use(what: str) -> Iterator[None]:
    """Run the block alone on this machine the first time this process runs ``what``; later
    blocks with the same ``what`` run freely.

    For libraries that compile on first use into a cache on disk: librosa's numba functions,
    compiled by several processes at the same moment on a new install (make test's workers, Ray's
    actors, render_dataset's pool, two runs), can load each other's half-written cache and die of
    a segmentation fault (here, five rounds of four processes started together on an empty cache:
    4 of 20 crashed, and 10 of 20 in a second try). The lock is an flock, so a killed process
    leaves none; without a writable temporary folder the block runs unlocked."""
    if what in _FIRST_USES_DONE:
        yield
        return
    import fcntl

    try:
        handle = open(first_use_lock(), "a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    _FIRST_USES_DONE.add(what)


class ResumableFolder:
    """A result folder filled piece by piece across runs, as a context manager.

    It cannot be swapped in whole like a :class:`ResultFolder`: a rerun keeps what earlier runs
    finished. So each piece inside it is written atomically on its own (a ``ResultFolder`` with
    ``within=`` this folder per piece, :func:`write_text_atomically` for the summary files), and
    the folder itself follows :func:`check_destination`'s rules, with one change: it is never
    replaced, so there is no ``force``. Refused: a folder holding an input of the run (e.g. the
    dataset), the current folder or one above it, a file, a folder inside another result, a
    non-empty folder that stemlime did not write, and a stemlime output of another kind (a
    single explanation's folder). Accepted: a new or empty folder, or an earlier run of the
    same ``kind``.

    On entering, the folder is created and marked with ``kind``, a lock is taken
    (:func:`folder_lock`) and what interrupted swaps left in ``subfolders`` (``"."``: the folder
    itself) is removed. Leaving releases the lock and deletes nothing. ``adopt(folder)`` says
    whether an unmarked folder is a run of this kind that an earlier stemlime wrote before
    folders were marked; it is then marked and resumed. ``read_inside``: input folders read with
    all their subfolders (a dataset); the folder may not lie inside one of them.
    """

    def __init__(
        self,
        destination: PathLike,
        kind: str,
        *,
        inputs: Iterable[PathLike | None] = (),
        subfolders: Sequence[str] = (),
        adopt: Callable[[Path], bool] | None = None,
        data: bool = False,
        read_inside: Iterable[PathLike | None] = (),
    ):
        self.destination = Path(destination)
        self.kind = kind
        self.data = data
        self.inputs = tuple(inputs)
        self.read_inside = tuple(read_inside)
        self.subfolders = tuple(subfolders)
        self.adopt = adopt
        self._lock: contextlib.ExitStack | None = None

    def check(self) -> Path:
        """Refuse a destination this run may not fill (a UsageError that says what to do); the resolved path."""
        target = check_destination(self.destination, self.inputs, force=True, read_inside=self.read_inside)
        if target.is_dir():
            kind = marker_kind(target)
            if is_stemlime_output(target) and kind != self.kind:
                raise UsageError(
                    f"the output folder {self.destination} holds a stemlime {kind or 'unknown'} result, not a {self.kind} "
                    f"run, and a {self.kind} run adds to its folder instead of replacing it; choose another output "
                    "folder (--out), a new or empty one"
                )
            adopted = self.adopt is not None and self.adopt(target)
            if not is_stemlime_output(target) and not adopted and any(target.iterdir()):
                raise UsageError(
                    f"the output folder {self.destination} holds files that stemlime did not write ({_listing(target)}); "
                    f"a {self.kind} run adds its results to its folder and never deletes what it did not write, so choose "
                    "another output folder (--out), a new or empty one"
                )
        return target

    def __enter__(self) -> Path:
        target = self.check()
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(
                f"cannot create the output folder {self.destination}: {error.strerror or error}; "
                "choose an output folder (--out) in a folder you can write to"
            ) from error
        stack = contextlib.ExitStack()
        stack.enter_context(folder_lock(target, "the output folder"))
        self._lock = stack
        try:
            if not is_stemlime_output(target):
                write_marker(target, self.kind, self.data)
            for name in self.subfolders:
                (target / name).mkdir(exist_ok=True)
                remove_staging(target / name)
        except BaseException:
            stack.close()
            self._lock = None
            raise
        return target

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        return None


__all__ = [
    "LOCK_NAME",
    "MARKER",
    "ResultFolder",
    "ResumableFolder",
    "StagedFolder",
    "check_destination",
    "enclosing_result",
    "file_problem",
    "folder_lock",
    "is_data_folder",
    "is_stemlime_output",
    "marker_kind",
    "remove_staging",
    "write_atomically",
    "write_marker",
    "write_text_atomically",
]
