"""Skip musicnn tests cleanly when its checkpoints are not fetched (`make install` fetches them)."""

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
