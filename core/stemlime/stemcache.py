"""Stems once per song: a cache of whole-input separations, in memory and on disk.

A song is separated whole (as audioLIME's factorizations did) and every excerpt, check, scan
and dataset rerun cuts its stems from that. The key is the audio content (SHA-256 of the file's
bytes, or of an array's samples), the separator spec, the version of the package that provides
it and the rate the separator ran at. On disk each entry is one safetensors file (float32 stems,
no pickle) in ``$STEMLIME_CACHE_DIR`` (default ``<model cache>/stems``), bounded to
``$STEMLIME_CACHE_MB`` megabytes (default 2048): the least recently used entries go first.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .fs import write_atomically

DEFAULT_LIMIT_MB = 2048
MEMORY_ENTRIES = 8  # songs kept in memory per process (a 5-minute song's 5 stems at 44.1 kHz: ~260 MB)


def cache_folder() -> Path:
    """Where separations are kept: ``$STEMLIME_CACHE_DIR``, else ``stems/`` in the model cache."""
    if os.environ.get("STEMLIME_CACHE_DIR"):
        return Path(os.environ["STEMLIME_CACHE_DIR"]).expanduser()
    from .models import model_home

    return model_home() / "stems"


def limit_bytes() -> int:
    text = os.environ.get("STEMLIME_CACHE_MB", "")
    try:
        return int(float(text) * 2**20) if text else DEFAULT_LIMIT_MB * 2**20
    except ValueError:
        return DEFAULT_LIMIT_MB * 2**20


def array_digest(audio: np.ndarray, sample_rate: int) -> str:
    """SHA-256 of float32 samples and their rate."""
    digest = hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    digest.update(str(int(sample_rate)).encode())
    return digest.hexdigest()


def cache_key(content: str, separator: str, version: str, rate: int) -> str:
    return hashlib.sha256(json.dumps([content, separator, version, int(rate)]).encode()).hexdigest()


class StemCache:
    """Whole-input stems by key: ``get(key)`` -> {stem: float32 audio} or None, ``put(key, stems)``."""

    def __init__(self, folder: Path | None = None, max_bytes: int | None = None, disk: bool = True):
        self.folder = folder
        self.max_bytes = max_bytes
        self.disk = disk  # False: memory only (a scan with cache=False still separates its song once)
        self._memory: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()

    def _folder(self) -> Path:
        return self.folder if self.folder is not None else cache_folder()

    def _path(self, key: str) -> Path:
        return self._folder() / f"{key}.safetensors"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        path = self._path(key)
        if not self.disk or not path.is_file():
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as handle:
                order = json.loads(handle.metadata()["stems"])
                stems = {name: handle.get_tensor(f"{index}") for index, name in enumerate(order)}
            os.utime(path)  # least recently used goes first
        except Exception:  # a damaged or foreign file: separate again (and overwrite it)
            return None
        self._remember(key, stems)
        return stems

    def put(self, key: str, stems: dict[str, np.ndarray]) -> None:
        self._remember(key, stems)
        if not self.disk:
            return
        folder = self._folder()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            from safetensors.numpy import save_file

            tensors = {f"{index}": np.ascontiguousarray(audio, dtype=np.float32) for index, audio in enumerate(stems.values())}
            write_atomically(self._path(key), lambda path: save_file(tensors, str(path), metadata={"stems": json.dumps(list(stems))}))
            self._evict(folder)
        except OSError:
            pass  # a read-only or full disk only costs the next run a separation

    def _remember(self, key: str, stems: dict[str, np.ndarray]) -> None:
        self._memory[key] = stems
        self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)

    def _evict(self, folder: Path) -> None:
        limit = limit_bytes() if self.max_bytes is None else self.max_bytes
        entries = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
        total = 0
        for path in entries:
            total += path.stat().st_size
            if total > limit:
                path.unlink(missing_ok=True)

    def clear_memory(self) -> None:
        self._memory.clear()


_shared = StemCache()


def shared_cache() -> StemCache:
    """The process-wide cache (what pipelines use unless told otherwise)."""
    return _shared
