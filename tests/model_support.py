"""Skip model tests cleanly when their checkpoints are not fetched (`make install` fetches them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemlime import ModelFilesError
from stemlime.models import model_path


def musicnn_folder(variant: str = "MSD_musicnn") -> Path:
    try:
        return model_path(f"musicnn/{variant}")
    except ModelFilesError as error:
        pytest.skip(f"musicnn {variant} checkpoint not fetched (run `make install`): {error}")


def spleeter_folder(variant: str = "2stems") -> Path:
    try:
        return model_path(f"spleeter/{variant}")
    except ModelFilesError:
        pytest.skip(f"the spleeter {variant} model files are not here: stemlime models fetch spleeter/{variant}")
