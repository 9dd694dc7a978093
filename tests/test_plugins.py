"""Plugin discovery: built-ins and third-party packages found through entry points alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import PIECE
from readme import code_block_after
from stemlime import Factory, Registry, UsageError
from stemlime.registry import plugin_module

STEMLIME = [sys.executable, "-m", "stemlime"]


def test_builtins_are_registered_through_the_hooks():
    described = Registry().describe()
    names = {kind: [f["name"] for f in factories] for kind, factories in described.items()}
    assert {"oracle", "none"} <= set(names["separators"])
    assert "whole" in names["segmenters"] and "ridge" in names["surrogates"] and "python" in names["taggers"]
    assert all(f["package"] == "stemlime" for f in described["separators"] if f["name"] in ("oracle", "none"))


def test_unknown_names_variants_and_options_list_what_is_available():
    registry = Registry()
    with pytest.raises(
        UsageError, match=r"unknown separator 'orcale' \(did you mean 'oracle'\?\)\. Available separators: .*none \(stemlime\)"
    ):
        registry.resolve("separator", "orcale")
    with pytest.raises(UsageError, match=r"has no option 'alpah' \(did you mean 'alpha'\?\)\. Options: alpha \(float\)"):
        registry.resolve("surrogate", "ridge,alpah=2")
    with pytest.raises(UsageError, match="takes no variant"):
        registry.resolve("segmenter", "whole:big")
    with pytest.raises(UsageError, match="feature_selection='lasso' is not one of .*did you mean 'lasso_path'"):
        registry.resolve("surrogate", "ridge,feature_selection=lasso")
    with pytest.raises(UsageError, match="alpha='x' is not a valid float"):
        registry.resolve("surrogate", "ridge,alpha=x")


def test_variants_are_checked_and_default():
    plugin = plugin_module(
        "sizes",
        stemlime_segmenters=lambda register: register(
            Factory(name="sized", description="d", build=lambda variant: variant, variants=["small", "large"], default_variant="small")
        ),
    )
    registry = Registry(plugins=[plugin])
    assert registry.build("segmenter", "sized") == "small"
    assert registry.build("segmenter", {"name": "sized", "variant": "large"}) == "large"
    with pytest.raises(UsageError, match=r"no variant 'lareg' \(did you mean 'large'\?\)\. Variants: small, large"):
        registry.resolve("segmenter", "sized:lareg")


@pytest.fixture(scope="module")
def installed_readme_plugin(tmp_path_factory) -> dict[str, str]:
    """Build the README's plugin package in a temp dir and pip-install it into a target folder."""
    root = tmp_path_factory.mktemp("plugin")
    package = root / "stemlime-hpss"
    package.mkdir()
    (package / "pyproject.toml").write_text(code_block_after("`pyproject.toml`:", "toml"))
    (package / "stemlime_hpss.py").write_text(code_block_after("`stemlime_hpss.py`:", "python"))
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(package)],
        check=True,
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return env


def test_the_core_finds_an_installed_third_party_separator(installed_readme_plugin):
    result = subprocess.run(STEMLIME + ["plugins", "--json"], env=installed_readme_plugin, capture_output=True, text=True, check=True)
    separators = {f["name"]: f for f in json.loads(result.stdout)["separators"]}
    assert separators["hpss"]["package"] == "stemlime-hpss"
    assert separators["hpss"]["options"][0]["name"] == "margin"


def test_the_core_uses_a_third_party_separator_in_an_explanation(installed_readme_plugin, tmp_path):
    model = tmp_path / "loudness.py"
    model.write_text(
        "import numpy as np\n"
        "labels = ['loud']\nsample_rate = 16000\ninput_seconds = None\n"
        "def predict(batch):\n    return np.tanh(10 * np.sqrt((batch ** 2).mean(axis=1, keepdims=True)))\n"
    )
    out = tmp_path / "out"
    result = subprocess.run(
        STEMLIME
        + [
            "explain",
            str(PIECE / "mixture.wav"),
            "--tagger",
            f"python,object=loudness:predict,path={tmp_path},sample_rate=16000,labels=loud",
            "--separator",
            "hpss,margin=2",
            "--start",
            "1",
            "--duration",
            "3",
            "--samples",
            "exhaustive",
            "--out",
            str(out),
        ],
        env=installed_readme_plugin,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    explanation = json.loads((out / "explanation.json").read_text())
    assert explanation["pipeline"]["separator"] == "hpss,margin=2"
    assert [c["name"] for c in explanation["components"]] == ["harmonic", "percussive", "rest"]
    assert explanation["distinct_evaluations"] == 8
    assert set(explanation["labels"]["loud"]["weights"]) == {"harmonic", "percussive", "rest"}


def test_without_the_package_the_separator_is_unknown():
    result = subprocess.run(
        STEMLIME + ["separate", str(PIECE / "mixture.wav"), "--separator", "hpss", "--out", "unused"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unknown separator 'hpss'" in result.stderr and "oracle (stemlime)" in result.stderr


def test_finding_every_plugin_imports_neither_torch_nor_scikit_learn():
    # every `stemlime` command collects the plugins first; heavy libraries load when a
    # tagger, separator or surrogate is built, not when it is listed
    code = (
        "import sys; from stemlime.registry import get_registry; r = get_registry(); "
        "assert r.describe()['taggers'], 'no taggers found'; "
        "print(sorted(m for m in ('torch', 'sklearn', 'librosa') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
