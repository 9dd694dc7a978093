"""Read TensorFlow 1 checkpoints ("tensor bundles") with numpy alone.

A checkpoint with prefix ``P`` is two files:

- ``P.index``: a LevelDB-style sorted table. Each key is a variable name; each value a
  serialized ``BundleEntryProto`` (dtype, shape, shard, offset, size, crc32c). The empty key
  holds the ``BundleHeaderProto`` (number of shards, endianness).
- ``P.data-SSSSS-of-NNNNN``: the raw little-endian tensor bytes, concatenated.

Every block of the table and every tensor carries a masked CRC-32C, which we verify, so a
truncated or corrupted file is reported as such instead of yielding wrong weights.
TensorFlow is never needed.
"""

from __future__ import annotations

from typing import Any, Iterator
import struct
from pathlib import Path

import attrs
import numpy as np

__all__ = ["CheckpointError", "TensorInfo", "list_checkpoint", "read_checkpoint", "crc32c"]

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_BLOCK_TRAILER_BYTES = 5  # 1 byte compression type + 4 bytes masked crc32c

# tensorflow/core/framework/types.proto -> numpy
_DTYPES = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    17: np.dtype("<u2"),
    19: np.dtype("<f2"),
    22: np.dtype("<u4"),
    23: np.dtype("<u8"),
}
_DT_STRING = 7


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt or not a TF1 tensor bundle."""


@attrs.frozen
class TensorInfo:
    """Where one variable lives in the data shards."""

    name: str
    dtype: np.dtype | None  # None for string tensors, which we do not decode
    shape: tuple[int, ...]
    shard: int
    offset: int  # bytes into the shard
    size: int  # bytes
    crc: int | None  # masked crc32c of the bytes, when recorded


# --------------------------------------------------------------------------- CRC-32C


def _make_crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _make_crc_table()
_LANE_BYTES = 8192


def _advance_zeros(registers: np.ndarray, n_bytes: int) -> np.ndarray:
    """Feed ``n_bytes`` zero bytes into many CRC registers at once (linear map Z^n)."""
    reg = registers.astype(np.uint32)
    for _ in range(n_bytes):
        reg = _CRC_TABLE[reg & 0xFF] ^ (reg >> 8)
    return reg


def _byte_tables(n_bytes: int) -> np.ndarray:
    """Tables T[k, v] = Z^n(v << 8k), so Z^n(x) = xor_k T[k, byte k of x]."""
    values = np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32))[:, None]
    return _advance_zeros(values.ravel(), n_bytes).reshape(4, 256)


_LANE_SHIFT = None  # built on first use


def _raw_crc_bytes(register: int, data: bytes | np.ndarray) -> int:
    for byte in bytes(data):
        register = int(_CRC_TABLE[(register ^ byte) & 0xFF]) ^ (register >> 8)
    return register


def crc32c(data: bytes | np.ndarray) -> int:
    """CRC-32C (Castagnoli) of ``data``.

    Large inputs are split into 8 KiB lanes whose registers advance together in numpy; the
    lane results are folded with the linear zero-feeding map, so 80 MB take well under a second.
    """
    global _LANE_SHIFT
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    n_lanes = len(buf) // _LANE_BYTES
    register = 0xFFFFFFFF
    if n_lanes >= 4:
        lanes = np.ascontiguousarray(buf[: n_lanes * _LANE_BYTES].reshape(n_lanes, _LANE_BYTES).T)
        reg = np.zeros(n_lanes, dtype=np.uint32)
        for column in lanes:
            reg = _CRC_TABLE[(reg ^ column) & 0xFF] ^ (reg >> 8)
        if _LANE_SHIFT is None:
            _LANE_SHIFT = _byte_tables(_LANE_BYTES)
        t0, t1, t2, t3 = (t.tolist() for t in _LANE_SHIFT)
        for lane_register in reg.tolist():
            r = register
            register = t0[r & 0xFF] ^ t1[(r >> 8) & 0xFF] ^ t2[(r >> 16) & 0xFF] ^ t3[r >> 24] ^ lane_register
        tail = buf[n_lanes * _LANE_BYTES :]
    else:
        tail = buf
    register = _raw_crc_bytes(register, tail)
    return register ^ 0xFFFFFFFF


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --------------------------------------------------------------------------- protobuf


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError("malformed varint")


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value) of a protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise CheckpointError("truncated protobuf message")
        yield number, wire, value


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, _, value in _fields(buf):
        if number == 2:  # Dim
            size = 0
            for dim_number, _, dim_value in _fields(value):
                if dim_number == 1:
                    size = dim_value
            dims.append(size)
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorInfo:
    dtype_code, shard, offset, size, crc = 0, 0, 0, 0, None
    shape: tuple[int, ...] = ()
    dtype: Any
    for number, _, value in _fields(buf):
        if number == 1:
            dtype_code = value
        elif number == 2:
            shape = _parse_shape(value)
        elif number == 3:
            shard = value
        elif number == 4:
            offset = value
        elif number == 5:
            size = value
        elif number == 6:
            crc = struct.unpack("<I", value)[0]
        elif number == 7:
            raise CheckpointError(f"variable {name!r} is stored in slices (partitioned); not supported")
    if dtype_code == _DT_STRING:
        dtype = None
    elif dtype_code in _DTYPES:
        dtype = _DTYPES[dtype_code]
    else:
        raise CheckpointError(f"variable {name!r} has unsupported TensorFlow dtype code {dtype_code}")
    return TensorInfo(name, dtype, shape, shard, offset, size, crc)


# --------------------------------------------------------------------------- table


def _read_block(data: bytes, offset: int, size: int, what: str) -> bytes:
    end = offset + size + _BLOCK_TRAILER_BYTES
    if end > len(data):
        raise CheckpointError(f"{what} block runs past the end of the index file (truncated?)")
    block = data[offset : offset + size]
    compression = data[offset + size]
    if compression != 0:
        raise CheckpointError(f"{what} block uses compression type {compression}; only uncompressed tables are supported")
    (stored,) = struct.unpack("<I", data[offset + size + 1 : end])
    if crc32c(data[offset : offset + size + 1]) != _unmask(stored):
        raise CheckpointError(f"{what} block fails its checksum (corrupt index file)")
    return block


def _block_entries(block: bytes):
    """Yield (key, value) of one table block (keys are prefix-compressed)."""
    if len(block) < 4:
        raise CheckpointError("malformed table block")
    (n_restarts,) = struct.unpack("<I", block[-4:])
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise CheckpointError("malformed table block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise CheckpointError("malformed table entry")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_len]
        pos += value_len


def _block_handle(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def _index_path(prefix: str | Path) -> Path:
    return Path(str(prefix) + ".index")


def _data_path(prefix: str | Path, shard: int, n_shards: int) -> Path:
    return Path(f"{prefix}.data-{shard:05d}-of-{n_shards:05d}")


def _read_index(prefix: str | Path) -> tuple[int, dict[str, TensorInfo]]:
    path = _index_path(prefix)
    if not path.is_file():
        raise CheckpointError(f"checkpoint index {path} does not exist")
    data = path.read_bytes()
    if len(data) < _FOOTER_BYTES:
        raise CheckpointError(f"{path} is too short to be a checkpoint index (truncated?)")
    footer = data[-_FOOTER_BYTES:]
    (magic,) = struct.unpack("<Q", footer[-8:])
    if magic != _TABLE_MAGIC:
        raise CheckpointError(f"{path} is not a TensorFlow checkpoint index (bad magic number; truncated?)")
    _, _, pos = _block_handle(footer)  # metaindex: unused
    index_offset, index_size, _ = _block_handle(footer, pos)
    n_shards, entries = 1, {}
    for _, handle in _block_entries(_read_block(data, index_offset, index_size, "index")):
        offset, size, _ = _block_handle(handle)
        for key, value in _block_entries(_read_block(data, offset, size, "data")):
            if key == b"":
                for number, _, field in _fields(value):
                    if number == 1:
                        n_shards = field
                    elif number == 2 and field != 0:
                        raise CheckpointError(f"{path} is big-endian; not supported")
                continue
            name = key.decode("utf-8")
            entries[name] = _parse_entry(name, value)
    return n_shards, entries


def list_checkpoint(prefix: str | Path) -> dict[str, TensorInfo]:
    """Variables of a checkpoint: name -> TensorInfo (dtype, shape, ...). Reads only the index."""
    return _read_index(prefix)[1]


def read_checkpoint(prefix: str | Path, names: list[str] | None = None, verify: bool = True) -> dict[str, np.ndarray]:
    """Read the numeric variables of a TF1 checkpoint.

    Parameters
    ----------
    prefix : the checkpoint prefix (``model`` for ``model.index``; for musicnn's folders whose
        files are named ``.index`` the prefix is ``folder/``).
    names : variables to read (default: all numeric ones; string tensors are skipped).
    verify : check each tensor's CRC-32C.

    Returns
    -------
    {variable name: ndarray} with TensorFlow's shapes and dtypes (native byte order).
    """
    n_shards, entries = _read_index(prefix)
    wanted = entries.keys() if names is None else names
    missing = [n for n in wanted if n not in entries]
    if missing:
        raise CheckpointError(f"checkpoint {prefix} has no variable(s) {missing}")
    shards: dict[int, np.memmap | np.ndarray] = {}
    out = {}
    for name in wanted:
        info = entries[name]
        if info.dtype is None:
            continue
        if info.shard not in shards:
            path = _data_path(prefix, info.shard, n_shards)
            if not path.is_file():
                raise CheckpointError(f"checkpoint data file {path} does not exist")
            shards[info.shard] = np.fromfile(path, dtype=np.uint8)
        shard = shards[info.shard]
        expected = int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize
        if info.size != expected:
            raise CheckpointError(f"variable {name!r}: index says {info.size} bytes, shape {info.shape} needs {expected}")
        if info.offset + info.size > len(shard):
            raise CheckpointError(f"variable {name!r} lies past the end of {_data_path(prefix, info.shard, n_shards)} (truncated file)")
        raw = shard[info.offset : info.offset + info.size]
        if verify and info.crc is not None and crc32c(raw) != _unmask(info.crc):
            raise CheckpointError(f"variable {name!r} fails its checksum (corrupt data file)")
        out[name] = raw.view(info.dtype).reshape(info.shape).astype(info.dtype.newbyteorder("="), copy=True)
    return out
