"""The verified copy of a model folder: its tensors as safetensors, and a marker of every file.

After stemlime has verified a model folder in full (SHA-256 where the plugin declares it, every
tensor's CRC-32C, the plugin's own check of names and shapes), it writes two hidden files into it:

- ``.stemlime-tensors.safetensors``: the tensors the model needs, in the safetensors format (a
  JSON header, then raw little-endian arrays; nothing is ever unpickled). Loading reads it
  memory-mapped, with no checksum pass.
- ``.stemlime-verified.json``: the marker. For every file of the folder, the originals and the
  safetensors copy, it records the size (bytes), the modification time (ns) and the SHA-256.

Who trusts what: loading a model (``stemlime explain`` and every plugin) trusts a folder whose
files still have the marker's sizes and modification times, without hashing them. Hashing 80 MB
costs a good part of a second on every start, and changing a file while keeping both its size
and its mtime takes a deliberate act; what this does not catch is bits flipped behind the
filesystem's back. Whatever does go wrong when the copy is read (a damaged header, a missing
tensor, a wrong shape) is reported with ``stemlime models fetch NAME --force``. The explicit
commands ``stemlime models list`` and ``stemlime models path`` re-hash every file against the
marker's SHA-256, which catches everything.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .fs import write_atomically

__all__ = ["COPY_NAME", "MARKER_NAME", "sha256_of", "write", "unchanged", "changed_files", "read"]

COPY_NAME = ".stemlime-tensors.safetensors"
MARKER_NAME = ".stemlime-verified.json"
_FORMAT = "stemlime-verified/1"  # markers of earlier versions (sizes only) are not trusted


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _record(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_of(path)}


def write(folder: Path, files: Iterable[str], tensors: Mapping[str, np.ndarray] | None) -> None:
    """Record ``folder`` as verified: write the safetensors copy of ``tensors`` (unless None),
    then the marker with size, mtime and SHA-256 of each of ``files`` and of the copy.

    Call it only after the files have been verified in full.
    """
    folder = Path(folder)
    names = list(files)
    if tensors is not None:
        from safetensors.numpy import save_file

        arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
        mode = (folder / names[0]).stat().st_mode & 0o777 if names else 0o644  # safetensors writes 0600

        def save(path: Path) -> None:
            save_file(arrays, str(path), metadata={"written_by": "stemlime"})
            path.chmod(mode)

        write_atomically(folder / COPY_NAME, save)
        names.append(COPY_NAME)
    else:
        (folder / COPY_NAME).unlink(missing_ok=True)
    marker = {"format": _FORMAT, "files": {name: _record(folder / name) for name in names}}
    write_atomically(folder / MARKER_NAME, lambda path: path.write_text(json.dumps(marker, indent=1)))


def _recorded(folder: Path, files: Iterable[str], with_copy: bool) -> dict[str, dict] | None:
    """The marker's records, or None when there is no marker of this format for exactly these files."""
    try:
        marker = json.loads((Path(folder) / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    records = marker.get("files") if isinstance(marker, dict) and marker.get("format") == _FORMAT else None
    expected = set(files) | ({COPY_NAME} if with_copy else set())
    if not isinstance(records, dict) or set(records) != expected:
        return None
    return records


def unchanged(folder: Path, files: Iterable[str], with_copy: bool) -> bool:
    """Whether ``folder`` was verified and its files still have the recorded sizes and mtimes
    (the fast check of loading; no hashing)."""
    records = _recorded(folder, files, with_copy)
    if records is None:
        return False
    for name, record in records.items():
        try:
            stat = (Path(folder) / name).stat()
        except OSError:
            return False
        if (stat.st_size, stat.st_mtime_ns) != (record.get("size"), record.get("mtime_ns")):
            return False
    return True


def changed_files(folder: Path, files: Iterable[str], with_copy: bool) -> list[str] | None:
    """Files of ``folder`` whose size or SHA-256 differ from the marker's (re-hashes them all);
    None when the folder has no marker for these files (never verified)."""
    records = _recorded(folder, files, with_copy)
    if records is None:
        return None
    changed = []
    for name, record in records.items():
        path = Path(folder) / name
        if not path.is_file() or path.stat().st_size != record.get("size") or sha256_of(path) != record.get("sha256"):
            changed.append(name)
    return changed


def read(folder: Path, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The tensors of ``folder``'s safetensors copy (all, or ``names``), memory-mapped, no checksums.

    Raises ValueError when the copy cannot be read or lacks a tensor.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(folder) / COPY_NAME
    try:
        with safe_open(str(path), framework="numpy") as copy:
            stored = set(copy.keys())
            wanted = sorted(stored) if names is None else list(names)
            missing = [name for name in wanted if name not in stored]
            if missing:
                raise ValueError(f"{path} lacks {len(missing)} tensor(s), e.g. {missing[0]!r}")
            return {name: copy.get_tensor(name) for name in wanted}
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path} cannot be read ({error})") from None
