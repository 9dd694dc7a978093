"""The ``demucs`` separator (stemlime-demucs) runs demucs's own model code and gives what demucs gives.

The pretrained weights cannot be downloaded here, so the models are small HTDemucs networks
with random weights (the class of htdemucs and htdemucs_6s), saved in demucs's two layouts:
its Hugging Face files (``NAME.yaml`` + ``SIG.safetensors``) and its ``.th`` packages
(``demucs.states.save_with_checksum``), and loaded through the plugin from ``model_dir``. The
references are ``demucs.apply.apply_model`` and ``demucs.api.Separator`` on the same audio.
What only real weights can show (separation quality) is not tested here.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import numpy as np
import pytest

from conftest import PIECE

pytestmark = pytest.mark.skipif(importlib.util.find_spec("stemlime_demucs") is None, reason="stemlime-demucs is not installed")

FOUR = ["drums", "bass", "other", "vocals"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # steadier on a busy 2-core machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """htdemucs (one network, Hugging Face layout), a weighted bag of two (htdemucs_ft's shape),
    htdemucs_6s (six stems), and htdemucs as demucs's .th download with no YAML beside it."""
    from tiny_models import htdemucs, save_demucs_safetensors, save_demucs_th, write_bag

    root = tmp_path_factory.mktemp("demucs")
    out = {name: root / name for name in ("htdemucs", "htdemucs_ft", "htdemucs_6s", "th")}
    for folder in out.values():
        folder.mkdir()
    save_demucs_safetensors(htdemucs(seed=0), out["htdemucs"], "955717e8")
    write_bag(out["htdemucs"], "htdemucs", ["955717e8"])
    for index, seed in enumerate((1, 2)):
        save_demucs_safetensors(htdemucs(seed=seed), out["htdemucs_ft"], f"f7e0c4b{index}")
    write_bag(out["htdemucs_ft"], "htdemucs_ft", ["f7e0c4b0", "f7e0c4b1"], [[1, 1, 0, 0], [0, 0, 1, 1]])
    save_demucs_safetensors(htdemucs(FOUR + ["guitar", "piano"], seed=3), out["htdemucs_6s"], "5c90dfd2")
    write_bag(out["htdemucs_6s"], "htdemucs_6s", ["5c90dfd2"])
    save_demucs_th(htdemucs(seed=0), out["th"], "955717e8")  # the signature demucs's own htdemucs.yaml names
    return out


@pytest.fixture(scope="module")
def excerpt() -> np.ndarray:
    """1.2 s of piece1's mixture at demucs's 44.1 kHz."""
    from stemlime.audio import load_audio

    audio, _ = load_audio(PIECE / "mixture.wav", sample_rate=44100, start=1.0, duration=1.2)
    return audio


def separator(spec: str):
    from stemlime import get_registry

    return get_registry().build("separator", spec)


def apply_model_reference(model, mono: np.ndarray, shifts: int, seed: int = 0) -> dict[str, np.ndarray]:
    """demucs.api's steps by hand: stereo, normalized, apply_model, scaled back, channels averaged."""
    import torch
    from demucs.apply import apply_model

    wav = torch.from_numpy(np.stack([mono, mono]))
    mean, std = wav.mean(0).mean(), wav.mean(0).std() + 1e-8
    random.seed(seed)
    out = apply_model(model, ((wav - mean) / std)[None], shifts=shifts, split=True, overlap=0.25) * std + mean
    return {name: out[0, k].mean(0).numpy() for k, name in enumerate(model.sources)}


def test_htdemucs_stems_equal_demucs_apply_model(folders, excerpt):
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    stems = separator(f"demucs:htdemucs,model_dir={folders['htdemucs']},shifts=1").separate(excerpt, 44100)
    assert list(stems) == FOUR
    assert all(s.dtype == np.float32 and s.shape == excerpt.shape for s in stems.values())
    bag = BagOfModels([load_safetensors_model(folders["htdemucs"] / "955717e8.safetensors")])  # demucs's own loader
    expected = apply_model_reference(bag, excerpt, shifts=1)
    for name in FOUR:
        np.testing.assert_allclose(stems[name], expected[name], rtol=0, atol=1e-6)


def test_a_weighted_bag_of_models_equals_demucs_apply_model(folders, excerpt):
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    stems = separator(f"demucs:htdemucs_ft,model_dir={folders['htdemucs_ft']},shifts=0").separate(excerpt, 44100)
    networks = [load_safetensors_model(folders["htdemucs_ft"] / f"f7e0c4b{i}.safetensors") for i in range(2)]
    expected = apply_model_reference(BagOfModels(networks, [[1, 1, 0, 0], [0, 0, 1, 1]]), excerpt, shifts=0)
    for name in FOUR:
        np.testing.assert_allclose(stems[name], expected[name], rtol=0, atol=1e-6)
    # each stem comes from the one network weighted for it: not the average of both
    alone = apply_model_reference(BagOfModels(networks[:1]), excerpt, shifts=0)
    np.testing.assert_allclose(stems["drums"], alone["drums"], rtol=0, atol=1e-6)
    assert not np.allclose(stems["vocals"], alone["vocals"], atol=1e-6)


def test_demucs_downloads_load_without_unpickling_code_and_equal_demucs_api(folders, excerpt):
    import torch
    from demucs.api import Separator

    ours = separator(f"demucs:htdemucs,model_dir={folders['th']}")  # the bag from the htdemucs.yaml demucs ships
    stems = ours.separate(excerpt, 44100)
    random.seed(0)
    # demucs's own path end to end (its loader unpickles the file we wrote, which is fine for a reference)
    _, expected = Separator(model="955717e8", repo=folders["th"], shifts=1, overlap=0.25, device="cpu", progress=False).separate_tensor(
        torch.from_numpy(np.stack([excerpt, excerpt])), 44100
    )
    for name in FOUR:
        np.testing.assert_allclose(stems[name], expected[name].mean(0).numpy(), rtol=0, atol=1e-6)


def test_stems_come_at_the_inputs_rate_and_length_and_rest_completes_the_mix(folders):
    from stemlime.audio import load_audio

    audio, _ = load_audio(PIECE / "mixture.wav", start=1.0, duration=1.0)  # 16 kHz
    stems = separator(f"demucs:htdemucs_6s,model_dir={folders['htdemucs_6s']},rest=true,shifts=0").separate(audio, 16000)
    assert list(stems) == FOUR + ["guitar", "piano", "rest"]
    assert all(s.shape == (16000,) and s.dtype == np.float32 for s in stems.values())
    np.testing.assert_allclose(sum(stems.values()), audio, atol=1e-6)


def test_the_same_input_gives_the_same_stems_and_leaves_pythons_random_alone(folders, excerpt):
    demucs = separator(f"demucs:htdemucs,model_dir={folders['htdemucs']},shifts=2")
    random.seed(123)
    first = demucs.separate(excerpt[:44100], 44100)
    after = random.random()
    random.seed(123)
    second = demucs.separate(excerpt[:44100], 44100)
    assert random.random() == after
    for name in FOUR:
        np.testing.assert_array_equal(first[name], second[name])


@pytest.mark.skipif(importlib.util.find_spec("stemlime_musicnn") is None, reason="stemlime-musicnn is not installed")
def test_the_readme_demucs_commands_run(folders, tmp_path):
    import shutil

    from model_support import musicnn_folder
    from readme import code_block_after, run_commands, doc

    musicnn_folder()
    shutil.copy(PIECE / "mixture.wav", tmp_path / "song.wav")
    shutil.copytree(folders["htdemucs"], tmp_path / "htdemucs")
    run_commands(code_block_after("### demucs", "bash", readme=doc("how-to/plugins.md")), tmp_path)
    saved = json.loads((tmp_path / "stems" / "stems.json").read_text())
    assert saved["sample_rate"] == 16000  # the input's rate
    assert sorted(p.name for p in (tmp_path / "stems").glob("*.wav")) == sorted(f"{s}.wav" for s in FOUR)
    explained = json.loads((tmp_path / "out" / "explanation.json").read_text())
    assert [c["name"] for c in explained["components"]] == FOUR


# ------------------------------------------------------------------------------------ bad input


def test_a_folder_without_the_models_files_says_what_it_needs(tmp_path):
    from stemlime import ModelFilesError

    with pytest.raises(
        ModelFilesError,
        match=r"lacks the model 955717e8 of htdemucs.yaml: expected 955717e8.safetensors "
        r"\(from the Hugging Face repository adefossez/HTDemucs\)",
    ):
        separator(f"demucs:htdemucs,model_dir={tmp_path}").load()


def test_a_folder_of_another_variant_is_named_as_such(folders, tmp_path):
    from stemlime import ModelFilesError
    from tiny_models import htdemucs, save_demucs_safetensors, write_bag

    save_demucs_safetensors(htdemucs(seed=0), tmp_path, "5c90dfd2")  # four stems where htdemucs_6s has six
    write_bag(tmp_path, "htdemucs_6s", ["5c90dfd2"])
    with pytest.raises(ModelFilesError, match="separate drums, bass, other, vocals, not drums, bass, other, vocals, guitar, piano"):
        separator(f"demucs:htdemucs_6s,model_dir={tmp_path}").load()


def test_a_model_file_that_names_other_code_is_refused_before_it_runs(folders, tmp_path):
    from safetensors.torch import load_file, save_file

    from stemlime import ModelFilesError

    source = folders["htdemucs"] / "955717e8.safetensors"
    save_file(
        load_file(str(source)),
        str(tmp_path / "955717e8.safetensors"),
        metadata={"klass": "os.system", "args": '["echo owned"]', "kwargs": "{}"},
    )
    (tmp_path / "htdemucs.yaml").write_text("models: ['955717e8']\n")
    with pytest.raises(ModelFilesError, match="names the class 'os.system'; stemlime builds only demucs's networks"):
        separator(f"demucs:htdemucs,model_dir={tmp_path}").load()


def test_a_th_file_with_pickled_objects_is_refused(tmp_path):
    from pathlib import PurePosixPath

    import torch

    from stemlime import ModelFilesError

    # any object beyond tensors and demucs's classes (here a path) is refused by the weights-only unpickler
    torch.save({"klass": PurePosixPath, "args": ["x"], "kwargs": {}, "state": {}}, tmp_path / "955717e8.th")
    with pytest.raises(ModelFilesError, match=r"cannot be read with torch.load\(weights_only=True\)"):
        separator(f"demucs:htdemucs,model_dir={tmp_path}").load()


def test_without_model_dir_or_network_the_message_says_where_files_come_from(tmp_path, monkeypatch):
    from stemlime import ModelFilesError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelFilesError, match="adefossez/HTDemucs.*model_dir=FOLDER"):
        separator("demucs:htdemucs").load()


def test_options_are_checked_before_anything_loads():
    from stemlime import UsageError

    with pytest.raises(UsageError, match="shifts must be a whole number from 0 to 20"):
        separator("demucs:htdemucs,shifts=-1")
    with pytest.raises(UsageError, match="overlap is a fraction of a segment"):
        separator("demucs:htdemucs,overlap=1.5")
