"""Models built here: a recipe writes a model's files, the store verifies and installs them like
fetched files, a failed build leaves the cache as it was but keeps its work for the next try,
and `models fetch` on such a model says to build it. (The Cerberus recipe itself runs, scaled
down, in test_cerberus.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest

from stemlime import ModelFilesError, UsageError
from stemlime.models import ModelFiles, ModelStore, Recipe
from stemlime.verified_copy import COPY_NAME, MARKER_NAME

NAME = "toy/counter"


def _check(folder: Path) -> None:
    if json.loads((folder / "config.json").read_text()).get("kind") != "counter":
        raise ModelFilesError(f"{folder} holds no counter model")


def _tensors(folder: Path) -> dict[str, np.ndarray]:
    return {"steps": np.load(folder / "steps.npy")}


class CountingRecipe:
    """Counts to ``target`` in its work folder (one step per call, so a build can fail half-way)."""

    def __init__(self, target: int = 3, fail_at: int | None = None):
        self.target, self.fail_at, self.devices = target, fail_at, []

    def __call__(self, folder: Path, work: Path, device: str) -> None:
        self.devices.append(device)
        done = int((work / "done").read_text()) if (work / "done").is_file() else 0
        for step in range(done, self.target):
            if step == self.fail_at:
                raise KeyboardInterrupt  # e.g. Ctrl-C
            (work / "done").write_text(str(step + 1))
        np.save(folder / "steps.npy", np.arange(self.target, dtype=np.float32))
        (folder / "config.json").write_text(json.dumps({"kind": "counter"}))


def _store(home: Path, recipe: CountingRecipe) -> ModelStore:
    model = ModelFiles(
        name=NAME,
        description="a toy built here",
        files={"steps.npy": "steps.npy", "config.json": "config.json"},
        verify=_check,
        read_tensors=_tensors,
        fetch_by_default=False,
        recipe=Recipe(recipe, "a second"),
    )
    return ModelStore({NAME: model}, home=home)


def test_a_recipe_model_is_built_verified_and_installed(tmp_path):
    recipe = CountingRecipe()
    store = _store(tmp_path, recipe)
    assert store.status(NAME).startswith("missing (build it: stemlime models build toy/counter)")
    with pytest.raises(UsageError, match="stemlime models build toy/counter"):
        store.fetch(NAME)
    with pytest.raises(ModelFilesError, match="stemlime models build toy/counter"):
        store.path(NAME)

    folder = store.build(NAME, device="cpu")
    assert folder == tmp_path / NAME and recipe.devices == ["cpu"]
    assert (folder / MARKER_NAME).is_file() and (folder / COPY_NAME).is_file()  # verified like a fetched model
    assert store.is_built(NAME) and store.path(NAME) == folder and store.status(NAME) == f"cached: {folder}"
    assert not store.build_folder(NAME).exists()  # the work is gone once the model is installed
    assert store.build(NAME) == folder and recipe.devices == ["cpu"]  # built before: not again
    store.build(NAME, force=True)
    assert recipe.devices == ["cpu", "auto"]


def test_an_interrupted_build_keeps_the_cache_as_it_was_and_resumes(tmp_path):
    store = _store(tmp_path, CountingRecipe(target=3, fail_at=2))
    with pytest.raises(KeyboardInterrupt):
        store.build(NAME)
    assert not (tmp_path / NAME).exists() and not list((tmp_path / "toy").glob(".counter.build-*"))  # no half-written model
    assert (store.build_folder(NAME) / "done").read_text() == "2"  # its work is kept
    resumed = _store(tmp_path, CountingRecipe(target=3))
    resumed.build(NAME)
    assert np.array_equal(np.load(tmp_path / NAME / "steps.npy"), np.arange(3))


def test_a_recipe_whose_files_fail_verification_installs_nothing(tmp_path):
    def wrong(folder: Path, work: Path, device: str) -> None:
        np.save(folder / "steps.npy", np.zeros(1, np.float32))
        (folder / "config.json").write_text(json.dumps({"kind": "something else"}))

    store = _store(tmp_path, CountingRecipe())
    store.models[NAME] = attrs.evolve(store.models[NAME], recipe=Recipe(wrong, "a second"))
    with pytest.raises(ModelFilesError, match="holds no counter model"):
        store.build(NAME)
    assert not (tmp_path / NAME).exists()


def test_a_downloaded_model_has_no_recipe_to_build(tmp_path):
    store = ModelStore({"toy/fetched": ModelFiles(name="toy/fetched", description="", files={"a": "a"})}, home=tmp_path)
    with pytest.raises(UsageError, match="has no recipe"):
        store.build("toy/fetched")
