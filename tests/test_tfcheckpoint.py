"""The numpy reader of TensorFlow 1 checkpoints, on the real musicnn checkpoints."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from model_support import musicnn_folder
from stemlime.tfcheckpoint import CheckpointError, crc32c, list_checkpoint, read_checkpoint


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 test vector: 32 zero bytes


def test_crc32c_lanes_agree_with_bytewise_for_any_length():
    from stemlime.tfcheckpoint import _raw_crc_bytes

    data = os.urandom(8192 * 5 + 123)
    for length in (0, 1, 8191, 8192 * 4, 8192 * 4 + 1, len(data)):
        assert crc32c(data[:length]) == _raw_crc_bytes(0xFFFFFFFF, data[:length]) ^ 0xFFFFFFFF


def test_reads_names_dtypes_and_shapes():
    prefix = str(musicnn_folder("MSD_musicnn")) + "/"
    listing = list_checkpoint(prefix)
    assert listing["dense_1/kernel"].shape == (200, 50)
    assert listing["batch_normalization/beta"].dtype == np.float32
    tensors = read_checkpoint(prefix, names=["dense_1/kernel", "dense_1/bias"])
    assert tensors["dense_1/kernel"].shape == (200, 50) and np.all(np.isfinite(tensors["dense_1/kernel"]))
    with pytest.raises(CheckpointError, match="no variable"):
        read_checkpoint(prefix, names=["nope/kernel"])


@pytest.fixture
def checkpoint_copy(tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(musicnn_folder("MTT_vgg"), folder)
    return folder


def test_truncated_data_file_is_reported(checkpoint_copy):
    data = checkpoint_copy / ".data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100000])
    with pytest.raises(CheckpointError, match="past the end.*truncated"):
        read_checkpoint(str(checkpoint_copy) + "/")


def test_flipped_bit_in_data_is_reported(checkpoint_copy):
    data = checkpoint_copy / ".data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="fails its checksum"):
        read_checkpoint(str(checkpoint_copy) + "/")


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_damaged_index_is_reported(checkpoint_copy, damage):
    index = checkpoint_copy / ".index"
    raw = bytearray(index.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        raw[20] ^= 0x01
    else:
        raw = bytearray()
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):
        list_checkpoint(str(checkpoint_copy) + "/")


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(str(tmp_path / "model"))
