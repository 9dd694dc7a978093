"""The confounder experiment (experiments/confounder, Section 4 of the paper): the whole run at toy
size, the data's controlled correlation, the classifier as a stemlime tagger, deterministic
training, safetensors weights, the summary's exact keys and the command line's errors."""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the confounder classifier needs PyTorch (make install)")
pytest.importorskip("stemlime_render", reason="the confounder data needs stemlime-render (make install)")

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
RUN = EXPERIMENTS / "confounder" / "run.py"
sys.path.insert(0, str(EXPERIMENTS))

import stemlime  # noqa: E402
from confounder import classifier as cnn  # noqa: E402
from confounder.data import INSTRUMENTS, SEED_BLOCK, SPLITS, block_seed  # noqa: E402
from confounder.experiment import SUMMARY_KEYS, Settings, confounded_pieces, summarize_explanations  # noqa: E402

from browser import DESKTOP, PHONE, assert_page_works, look_at, require_browser  # noqa: E402
from readme import code_block_after, doc  # noqa: E402

TOY = {"train": 4, "validation": 2, "test_std": 2, "test_bad": 2}


def toy_settings() -> Settings:
    """The settings of the README's toy command."""
    return Settings(seed=3, sizes=TOY, separators=("oracle",), duration=4.0, steps=40, batch_size=8)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> tuple[Path, dict]:
    """The whole experiment at toy size, as the README's command runs it: 10 pieces of 4 s, 40
    training steps, the oracle only."""
    root = tmp_path_factory.mktemp("confounder")
    command = code_block_after("# A confounded classifier", "bash", readme=doc("tutorials/confounder.md")).replace("\\\n", " ").strip()
    words = shlex.split(command)
    assert words[:2] == ["python", "experiments/confounder/run.py"], command
    result = subprocess.run([sys.executable, str(RUN), *words[2:], "--no-progress"], capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stderr
    assert "accuracy: train" in result.stdout
    out = root / "toy-out"
    return out, json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_the_toy_run_writes_the_whole_result_folder(toy_run):
    out, summary = toy_run
    assert json.loads((out / ".stemlime-output.json").read_text())["kind"] == "experiment"
    saved = summary
    assert list(saved) == list(SUMMARY_KEYS) == ["accuracy", "accuracy_by_class", "predictions", "confounder", "control"]
    assert set(saved["accuracy"]) == set(SPLITS) and all(0 <= a <= 1 for a in saved["accuracy"].values())
    for split in SPLITS:
        assert set(saved["accuracy_by_class"][split]) == set(saved["predictions"][split]) == {"guitar", "piano"}
    pieces = json.loads((out / "pieces.json").read_text())
    assert len(pieces) == sum(TOY.values())
    for split in SPLITS:  # accuracy is the fraction of the split's pieces whose mean p(piano) is on the right side of 0.5
        of_split = [p for p in pieces if p["split"] == split]
        assert saved["accuracy"][split] == pytest.approx(np.mean([(p["p_piano"] >= 0.5) == (p["label"] == "piano") for p in of_split]))
        assert all(p["p_piano"] == pytest.approx(np.mean(p["windows"])) and len(p["windows"]) == 2 for p in of_split)
    run_record = json.loads((out / "run.json").read_text())
    assert run_record["settings"]["steps"] == 40 and run_record["history"][-1]["step"] == 40
    assert sorted(p.name for p in (out / "examples" / "test_bad").iterdir()) == ["guitar.wav", "piano.wav"]


@pytest.mark.slow
def test_every_test_std_guitar_piece_is_explained_as_a_control_with_its_true_stems(toy_run):
    out, summary = toy_run
    control = summary["control"]["oracle"]
    assert control["explained"] == TOY["test_std"] // 2
    assert set(control["top_counts"]) <= {"guitar", "bass", "drums", "none"} and sum(control["top_counts"].values()) == 1
    folder = out / "explanations" / "oracle" / "test_std" / "guitar-000"
    explanation = json.loads((folder / "explanation.json").read_text())
    assert explanation["duration"] == 2.0 and explanation["samples"] == "exhaustive"
    assert sorted(c["name"] for c in explanation["components"]) == ["bass", "drums", "guitar"]
    assert explanation["distinct_evaluations"] == 8  # all 2^3 masks
    assert (folder / "explanations" / "guitar.wav").is_file()
    # every test_bad piano called guitar, and only those, is explained (at this size and seed: the one there is)
    called_guitar = [
        p["piece"]
        for p in json.loads((out / "pieces.json").read_text())
        if p["split"] == "test_bad" and p["label"] == "piano" and p["p_piano"] < 0.5
    ]
    explained = sorted(f"test_bad/{p.name}" for p in (out / "explanations" / "oracle" / "test_bad").glob("piano-*"))
    assert summary["confounder"]["oracle"]["explained"] == len(explained) and explained == called_guitar


@pytest.mark.slow
def test_the_classifier_reloads_from_safetensors_and_predicts_the_same(toy_run):
    out, _ = toy_run
    assert sorted(p.name for p in (out / "classifier").iterdir()) == ["config.json", "model.safetensors"]
    tagger = cnn.GuitarPianoTagger.load(out / "classifier", device="cpu")
    pieces = json.loads((out / "pieces.json").read_text())
    audio, _ = stemlime.load_audio(Path(pieces[0]["folder"]) / "mixture.wav")
    mean, windows = tagger.piece_probability(audio)
    assert windows.tolist() == pieces[0]["windows"] and mean == pieces[0]["p_piano"]


@pytest.mark.slow
def test_the_splits_hold_drums_only_with_guitar_except_test_bad(toy_run):
    out, _ = toy_run
    for piece in json.loads((out / "pieces.json").read_text()):
        stems = sorted(p.stem for p in Path(piece["folder"]).glob("*.wav") if p.stem != "mixture")
        assert stems == sorted(INSTRUMENTS[piece["split"]][piece["label"]].split(",")), piece["piece"]
        assert ("drums" in stems) == ((piece["label"] == "guitar") != (piece["split"] == "test_bad"))


@pytest.mark.slow
def test_the_experiment_readme_python_block_reuses_the_pieces_and_gives_the_same_numbers(toy_run, monkeypatch, capsys):
    out, summary = toy_run
    data = Path(json.loads((out / "run.json").read_text())["data"])
    before = {p: p.stat().st_mtime_ns for p in data.rglob("mixture.wav")}
    monkeypatch.chdir(out.parent)
    namespace: dict = {}
    exec(code_block_after("## In Python", "python", readme=EXPERIMENTS / "confounder" / "README.md"), namespace)
    assert namespace["settings"] == toy_settings()
    # the Python API, bit for bit: the same pieces, the same training, the same explanations
    assert namespace["summary"] == summary == json.loads((out.parent / "toy-out-again" / "summary.json").read_text())
    assert str(summary["control"]["oracle"]) in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in data.rglob("mixture.wav")} == before


def test_the_classifier_is_a_stemlime_tagger_with_p_guitar_one_minus_p_piano():
    tagger, _ = cnn.train(
        [np.random.default_rng(0).normal(0, 0.1, 40000).astype(np.float32)] * 2, [0, 1], steps=2, batch_size=2, device="cpu", progress=False
    )
    assert (tagger.labels, tagger.sample_rate, tagger.input_seconds, tagger.outputs) == (["guitar", "piano"], 16000, 2.0, "probabilities")
    batch = np.random.default_rng(1).normal(0, 0.1, (3, cnn.WINDOW)).astype(np.float32)
    out = tagger.predict(batch)
    assert out.shape == (3, 2) and np.allclose(out.sum(axis=1), 1.0) and np.all((out > 0) & (out < 1))
    assert cnn.FRAMES == 61 and cnn.BINS == 513
    with pytest.raises(stemlime.StemlimeError, match="32000"):
        tagger.predict(batch[:, :16000])
    # the pipeline cuts a 4-s mix into the tagger's 2-s windows and averages them
    mix = np.concatenate([batch[0], batch[1]])
    clip = stemlime.Pipeline(tagger=tagger, separator="none").tag(mix, sample_rate=16000)
    assert clip == pytest.approx(out[:2].mean(axis=0), abs=1e-6)


def test_training_is_deterministic_for_a_seed():
    rng = np.random.default_rng(5)
    pieces = [rng.normal(0, 0.1, 48000).astype(np.float32) for _ in range(4)]

    def weights(seed):
        tagger, history = cnn.train(pieces, [0, 1, 0, 1], seed=seed, steps=4, batch_size=4, device="cpu", progress=False)
        return {k: v.numpy().copy() for k, v in tagger.network.state_dict().items()}, history

    first, history = weights(0)
    again, history_again = weights(0)
    other, _ = weights(1)
    assert all(np.array_equal(first[k], again[k]) for k in first) and history == history_again
    assert not all(np.array_equal(first[k], other[k]) for k in first)


def test_the_seeds_of_splits_and_runs_never_meet():
    blocks = sorted(block_seed(seed, split, label) for seed in range(3) for split in SPLITS for label in ("guitar", "piano"))
    assert len(set(blocks)) == len(blocks) and all(b - a >= SEED_BLOCK for a, b in zip(blocks, blocks[1:]))


def test_only_test_bad_pianos_called_guitar_are_confounded():
    from confounder.data import Piece

    pieces = {split: [Piece(split, label, 0, Path("."), 0) for label in ("guitar", "piano")] for split in SPLITS}
    p_piano = {"test_bad/guitar-000": 0.1, "test_bad/piano-000": 0.2, "test_std/piano-000": 0.1}
    predictions = {p.name: {"p_piano": p_piano.get(p.name, 0.9)} for ps in pieces.values() for p in ps}
    assert [p.name for p in confounded_pieces(pieces, predictions)] == ["test_bad/piano-000"]


def test_the_summary_counts_drums_on_top_and_the_control_stems():
    explained = {
        "oracle": {
            "confounder": [{"top": "drums"}, {"top": "drums"}, {"top": "piano"}, {"top": None}],
            "control": [
                {"top": "drums", "stems": ["bass", "drums", "guitar"]},
                {"top": "guitar", "stems": ["bass", "drums", "guitar"]},
                {"top": "drums", "stems": ["bass", "drums", "guitar"]},
            ],
        },
        "cerberus": {"confounder": [], "control": []},
    }
    summary = summarize_explanations(explained)
    assert summary["confounder"] == {"oracle": {"explained": 4, "drums_top": 0.5}, "cerberus": {"explained": 0, "drums_top": None}}
    assert summary["control"]["oracle"] == {"explained": 3, "top_counts": {"bass": 0, "drums": 2, "guitar": 1}}


@pytest.fixture
def run_py(monkeypatch, capsys):
    """``python experiments/confounder/run.py ARGS`` in this process: its ``main(argv)`` returns the status."""
    spec = importlib.util.spec_from_file_location("confounder_run", RUN)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        status = script.main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess([str(RUN), *args], status, captured.out, captured.err)

    return run


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train", "3"], "even number of pieces"),
        (["--separators", "oracle,nosuchseparator"], "unknown separator 'nosuchseparator'"),
        (["--steps", "0"], "steps and batch size must be >= 1"),
    ],
)
def test_bad_settings_are_usage_errors_before_anything_is_rendered(run_py, tmp_path, args, message):
    result = run_py("--out", "out", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_command_line_refuses_an_output_folder_it_did_not_write(run_py, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("mine")
    result = run_py("--out", "out", "--separators", "oracle", cwd=tmp_path)
    assert result.returncode == 2 and "stemlime did not write" in result.stderr
    assert (tmp_path / "out" / "thesis.tex").read_text() == "mine" and not (tmp_path / "out-data").exists()


def test_a_separator_spec_names_the_model_files_it_needs():
    from confounder.separators import model_name

    assert model_name("oracle") is None and model_name("none") is None
    if importlib.util.find_spec("stemlime_spleeter") is not None:
        assert model_name("spleeter:5stems") == "spleeter/5stems"
        assert model_name("spleeter") == "spleeter/2stems"  # the default variant


@pytest.mark.slow
def test_the_page_shows_the_splits_the_numbers_and_the_caught_example(toy_run):
    out, summary = toy_run
    html = (out / "index.html").read_text()
    for split in SPLITS:
        assert f'src="examples/{split}/guitar.wav"' in html and f'src="examples/{split}/piano.wav"' in html
    assert "guitar + bass + drums" in html and "piano + bass + drums" in html
    if summary["confounder"]["oracle"]["explained"]:
        assert "The confounded example: test_bad/piano-000" in html
        assert 'src="explanations/oracle/test_bad/piano-000/explanations/guitar.wav"' in html
        assert 'href="explanations/oracle/test_bad/piano-000/index.html"' in html
    assert (out / "explanations" / "oracle" / "test_std" / "guitar-000" / "index.html").is_file()  # every explanation has its page
    for name in ("summary.json", "run.json", "pieces.json"):
        assert f'href="{name}"' in html


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("size, name", [(DESKTOP, "confounder-desktop.png"), (PHONE, "confounder-phone.png")])
def test_the_page_works_in_a_real_browser(toy_run, size, name):
    require_browser()
    out, summary = toy_run
    seen = look_at(out, size=size, screenshot=name)
    assert_page_works(seen)  # no console errors, every player plays, pictures load, no sideways scrolling
    players = 2 * len(SPLITS) + (2 + 3 if summary["confounder"]["oracle"]["explained"] else 0)  # + excerpt, explanation, 3 stems
    assert len(seen["durations"]) == players
    assert "A confounded classifier, caught" in seen["text"]


def test_a_missing_recipe_model_is_built_before_the_run_and_a_built_one_is_kept(tmp_path):
    """The real model store and its build mechanism, with a small stand-in recipe under Cerberus' name."""
    pytest.importorskip("stemlime_cerberus", reason="the cerberus separator is not installed")
    from confounder.separators import prepare_separators
    from stemlime.models import ModelFiles, ModelStore, Recipe

    built = []

    def recipe(folder: Path, work: Path, device: str) -> None:
        built.append(device)
        (folder / "weights.txt").write_text("built here")

    model = ModelFiles(
        name="cerberus/pno-gtr-bss-drm", description="a stand-in", files={"weights.txt": "weights.txt"}, recipe=Recipe(recipe, "a moment")
    )
    store = ModelStore({model.name: model}, home=tmp_path)
    messages: list[str] = []
    specs = ["oracle", "cerberus:pno-gtr-bss-drm"]
    assert prepare_separators(specs, "cpu", messages.append, store) == ["cerberus/pno-gtr-bss-drm"]
    assert built == ["cpu"] and (tmp_path / "cerberus" / "pno-gtr-bss-drm" / "weights.txt").read_text() == "built here"
    assert "stemlime models build cerberus/pno-gtr-bss-drm" in messages[0] and "a moment" in messages[0]
    assert prepare_separators(specs, "cpu", messages.append, store) == [] and built == ["cpu"]  # built once
