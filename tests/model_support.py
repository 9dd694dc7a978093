"""Skip model tests cleanly when their plugin is not installed or their checkpoints are not
fetched (`make install` installs every plugin and fetches them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemlime import ModelFilesError, UsageError
from stemlime.models import model_path


def _model_folder(name: str) -> Path:
    try:
        return model_path(name)
    except UsageError as error:  # no installed plugin declares this model
        pytest.skip(f"{name}: its plugin is not installed (run `make install`): {error}")
    except ModelFilesError as error:
        pytest.skip(f"{name}: model files not fetched (run `make install` or `stemlime models fetch {name}`): {error}")


def musicnn_folder(variant: str = "MSD_musicnn") -> Path:
    return _model_folder(f"musicnn/{variant}")


def spleeter_folder(variant: str = "2stems") -> Path:
    return _model_folder(f"spleeter/{variant}")
