"""The ``torch`` tagger (stemlime-hf): a user's PyTorch module becomes a tagger from a spec string.

The module is written to a folder as a user would write it, its weights saved with
``torch.save(state_dict)`` and with safetensors; the tagger's outputs must be the module's own
(with the asked-for activation), averaged over windows of ``input_seconds``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import PIECE

pytestmark = pytest.mark.skipif(importlib.util.find_spec("stemlime_hf") is None, reason="stemlime-hf is not installed")

MODULE = '''
import torch


class Energy(torch.nn.Module):
    """Log energy of 4 equal parts of the input -> 3 logits."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(4, 3)

    def forward(self, audio):                       # (batch, samples) -> (batch, 3)
        parts = audio.reshape(len(audio), 4, -1)
        return self.head(torch.log((parts ** 2).mean(dim=2) + 1e-6))


def build():
    return Energy()
'''


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory) -> Path:
    """energy.py, its trained weights as energy.pt and energy.safetensors, and labels.txt."""
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("user-model")
    (folder / "energy.py").write_text(MODULE)
    sys.path.insert(0, str(folder))
    try:
        import energy
    finally:
        sys.path.remove(str(folder))
    torch.manual_seed(3)
    network = energy.build()
    torch.save(network.state_dict(), folder / "energy.pt")
    save_file(network.state_dict(), str(folder / "energy.safetensors"))
    (folder / "labels.txt").write_text("quiet\nmedium\nloud\n")
    return folder


def expected_outputs(folder: Path, checkpoint: str, audio: np.ndarray, window: int) -> np.ndarray:
    """The saved module itself on each window of the input, softmax, averaged."""
    import torch

    module = sys.modules["energy"]
    network = module.build()
    network.load_state_dict(torch.load(folder / checkpoint, weights_only=True))
    windows = torch.from_numpy(audio[: len(audio) // window * window].reshape(-1, window))
    with torch.no_grad():
        return network(windows).softmax(-1).mean(dim=0).numpy()


@pytest.mark.parametrize("checkpoint", ["energy.pt", "energy.safetensors"])
def test_the_tagger_gives_the_modules_outputs_with_its_weights(user_folder, checkpoint):
    from stemlime import get_registry
    from stemlime.audio import load_audio

    tagger = get_registry().build(
        "tagger",
        f"torch,module=energy:build,path={user_folder},checkpoint={user_folder / checkpoint},"
        f"labels={user_folder / 'labels.txt'},sample_rate=16000,input_seconds=0.5,output=softmax",
    )
    assert tagger.labels == ["quiet", "medium", "loud"] and tagger.sample_rate == 16000
    assert tagger.outputs == "probabilities"
    audio, _ = load_audio(PIECE / "mixture.wav", start=1.0, duration=1.7)  # three 0.5-s windows, 0.2 s dropped
    expected = expected_outputs(user_folder, "energy.pt", audio, 8000)
    np.testing.assert_allclose(tagger.predict(audio[None])[0], expected, rtol=0, atol=1e-6)


def test_without_a_checkpoint_the_module_keeps_its_own_initial_weights(user_folder):
    from stemlime import get_registry
    from stemlime.audio import load_audio

    spec = f"torch,module=energy:build,path={user_folder},sample_rate=16000"
    untrained = get_registry().build("tagger", spec)
    trained = get_registry().build("tagger", f"{spec},checkpoint={user_folder / 'energy.pt'}")
    assert untrained.labels == ["0", "1", "2"]  # numbered from the module's output
    assert untrained.outputs is None  # output=none: judged from the values
    audio, _ = load_audio(PIECE / "mixture.wav", duration=1.0)
    assert not np.allclose(untrained.predict(audio[None]), trained.predict(audio[None]))


def test_the_readme_torch_module_is_explained_as_written(tmp_path, monkeypatch):
    import runpy
    import shutil

    from readme import code_block_after, run_commands, doc

    heading = "**A PyTorch module.**"
    (tmp_path / "mynet.py").write_text(code_block_after(heading, "python", nth=0, readme=doc("how-to/your-model.md")))
    (tmp_path / "save.py").write_text(code_block_after(heading, "python", nth=1, readme=doc("how-to/your-model.md")))
    shutil.copytree(PIECE, tmp_path / "tests" / "data" / "piece1_16k")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    runpy.run_path("save.py")
    run_commands(code_block_after(heading, "bash", readme=doc("how-to/your-model.md")), tmp_path)
    import json

    saved = json.loads((tmp_path / "out" / "explanation.json").read_text())
    assert list(saved["labels"]) == ["loud"] and saved["outputs"] == "probabilities"
    assert len(saved["labels"]["loud"]["weights"]) == 5  # the five true stems of the oracle separator


@pytest.mark.parametrize("window", ["0.5", "none"])
def test_mixing_the_perturbations_on_the_device_gives_the_host_paths_explanation(user_folder, window):
    """compose=device (C sent once, each batch mixed by the tagger) equals the engine's own
    mixing within float32 rounding; on a CPU it is tested with the CPU as the device."""
    import stemlime

    seconds = "" if window == "none" else f",input_seconds={window}"
    spec = f"torch,module=energy:build,path={user_folder},checkpoint={user_folder / 'energy.pt'},sample_rate=16000,output=softmax{seconds}"
    explained = {}
    for compose in ("host", "device"):
        pipeline = stemlime.Pipeline(tagger=f"{spec},compose={compose}", separator="oracle")
        assert (pipeline.tagger.stage(np.zeros((2, 8000), np.float32)) is None) == (compose == "host")
        explained[compose] = pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=1.7, samples=64, seed=0, labels=["2"])
    host, device = explained["host"], explained["device"]
    np.testing.assert_allclose(device.neighbourhood.predictions, host.neighbourhood.predictions, rtol=0, atol=1e-6)
    assert list(device.weights("2")) == list(host.weights("2"))  # the same ranking
    np.testing.assert_allclose(list(device.weights("2").values()), list(host.weights("2").values()), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------ bad input


def test_an_output_shape_that_does_not_match_the_labels_is_refused(cli, user_folder, tmp_path):
    (tmp_path / "two.txt").write_text("quiet\nloud\n")
    result = cli(
        "tag",
        str(PIECE / "mixture.wav"),
        "--tagger",
        f"torch,module=energy:build,path={user_folder},labels={tmp_path / 'two.txt'},sample_rate=16000",
    )
    assert result.returncode == 2
    assert "returns 3 outputs per input, but its labels name 2 (quiet, loud)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_pickled_module_is_not_loaded(user_folder, tmp_path):
    import torch

    from stemlime import ModelFilesError, get_registry

    sys.path.insert(0, str(user_folder))
    try:
        torch.save(sys.modules["energy"].build(), tmp_path / "whole.pt")  # the module object itself: pickled code
    finally:
        sys.path.remove(str(user_folder))
    with pytest.raises(ModelFilesError, match=r"weights_only=True.*torch.save\(module.state_dict\(\), FILE\)"):
        get_registry().build("tagger", f"torch,module=energy:build,path={user_folder},checkpoint={tmp_path / 'whole.pt'},sample_rate=16000")


def test_weights_of_another_module_are_refused_by_name(user_folder, tmp_path):
    import torch

    from stemlime import ModelFilesError, get_registry

    torch.save({"head.weight": torch.zeros(2, 4)}, tmp_path / "other.pt")
    with pytest.raises(ModelFilesError, match="does not fit the module.*head.bias"):
        get_registry().build("tagger", f"torch,module=energy:build,path={user_folder},checkpoint={tmp_path / 'other.pt'},sample_rate=16000")


def test_usage_errors_name_what_to_give(user_folder):
    from stemlime import UsageError, get_registry

    registry = get_registry()
    with pytest.raises(UsageError, match="needs module=MODULE:FACTORY"):
        registry.build("tagger", "torch,sample_rate=16000")
    with pytest.raises(UsageError, match="no sample_rate attribute; give sample_rate=HZ"):
        registry.build("tagger", f"torch,module=energy:build,path={user_folder}")
    with pytest.raises(UsageError, match="module 'energy' has no attribute 'missing'"):
        registry.build("tagger", f"torch,module=energy:missing,path={user_folder},sample_rate=16000")
    with pytest.raises(UsageError, match="labels=nolabels.txt: no such file"):
        registry.build("tagger", f"torch,module=energy:build,path={user_folder},labels=nolabels.txt,sample_rate=16000")


def test_an_input_shorter_than_the_window_is_zero_padded_to_it(user_folder):
    from stemlime import get_registry
    from stemlime.audio import load_audio

    tagger = get_registry().build(
        "tagger",
        f"torch,module=energy:build,path={user_folder},sample_rate=16000,"
        f"input_seconds=0.5,checkpoint={user_folder / 'energy.pt'},output=softmax",
    )
    audio, _ = load_audio(PIECE / "mixture.wav", start=1.0, duration=0.3)
    padded = np.concatenate([audio, np.zeros(8000 - len(audio), np.float32)])
    np.testing.assert_allclose(tagger.predict(audio[None])[0], expected_outputs(user_folder, "energy.pt", padded, 8000), rtol=0, atol=1e-6)
