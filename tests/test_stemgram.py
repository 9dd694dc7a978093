"""The stemgram (#26): exact Shapley values per taggram frame, interactions, the CLI and the page."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import stemlime
from conftest import PIECE
from stemlime.errors import UsageError
from stemlime.records import StemgramRecord, json_text
from stemlime.report import render_report
from stemlime.shapley import all_masks, interaction_indices, shapley_values
from stemlime.stemgrams import frame_blocks

RATE = 16000

FRAMED = """
import numpy as np

class FramedLoudness:
    labels = ["loud", "bright"]
    sample_rate = 16000
    input_seconds = 1.0

    def predict(self, batch):
        loud = np.tanh(10 * np.sqrt((batch ** 2).mean(axis=1)))
        spectrum = np.abs(np.fft.rfft(batch, axis=1)) ** 2
        bright = spectrum[:, spectrum.shape[1] // 4:].sum(axis=1) / (spectrum.sum(axis=1) + 1e-9)
        return np.stack([loud, bright], axis=1)

tagger = FramedLoudness()
"""


def brute_force_shapley(game, k):
    """phi_i as the average over all k! orders of i's marginal contribution (the definition)."""
    phi = np.zeros(k)
    orders = list(itertools.permutations(range(k)))
    for order in orders:
        on = 0
        for player in order:
            phi[player] += game(on | (1 << player)) - game(on)
            on |= 1 << player
    return phi / len(orders)


def brute_force_interaction(game, k, i, j):
    """Grabisch-Roubens' index from its definition, over the subsets of the other players."""
    others = [p for p in range(k) if p not in (i, j)]
    total = 0.0
    for size in range(len(others) + 1):
        weight = math.factorial(size) * math.factorial(k - size - 2) / math.factorial(k - 1)
        for subset in itertools.combinations(others, size):
            s = sum(1 << p for p in subset)
            total += weight * (game(s | 1 << i | 1 << j) - game(s | 1 << i) - game(s | 1 << j) + game(s))
    return total


@pytest.mark.parametrize("k", [1, 2, 3, 5, 6])
def test_exact_values_and_interactions_equal_the_brute_force_definitions(k):
    rng = np.random.default_rng(k)
    table = rng.normal(size=2**k)
    masks = all_masks(k)
    assert masks.shape == (2**k, k) and all(int("".join(map(str, row[::-1])), 2) == c for c, row in enumerate(masks))
    phi = shapley_values(table, k)
    assert np.allclose(phi, brute_force_shapley(lambda c: table[c], k), atol=1e-9, rtol=0)
    assert abs(phi.sum() - (table[-1] - table[0])) < 1e-9  # efficiency
    if k >= 2:
        index = interaction_indices(table, k)
        for i, j in itertools.combinations(range(k), 2):
            assert abs(index[i, j] - brute_force_interaction(lambda c: table[c], k, i, j)) < 1e-9
            assert index[i, j] == index[j, i]


def test_more_components_than_exact_allows_are_refused():
    with pytest.raises(UsageError, match="at most|1 to 10"):
        all_masks(11)


# ---------------------------------------------------------------------------- a tagger with a known interaction


class BandAnd:
    """'both': an AND of two band-energy detectors (300 Hz and 3 kHz), each saturating at 1."""

    labels = ["both", "low"]
    sample_rate = RATE
    input_seconds = 1.0

    def predict(self, batch):
        spectrum = np.abs(np.fft.rfft(batch, axis=1)) ** 2 / batch.shape[1] ** 2
        hz = np.fft.rfftfreq(batch.shape[1], 1 / RATE)
        low = np.clip(spectrum[:, (hz > 250) & (hz < 350)].sum(axis=1) / 0.01, 0, 1)
        high = np.clip(spectrum[:, (hz > 2500) & (hz < 3500)].sum(axis=1) / 0.01, 0, 1)
        return np.stack([low * high, low], axis=1)


@pytest.fixture
def band_song(tmp_path) -> Path:
    """An oracle folder: a 300-Hz stem, a 3-kHz stem and a quiet 1-kHz stem, 3 s, the 3 kHz only after 1 s."""
    t = np.arange(3 * RATE) / RATE
    stems = {
        "low": 0.5 * np.sin(2 * np.pi * 300 * t),
        "high": 0.5 * np.sin(2 * np.pi * 3000 * t) * (t >= 1),
        "other": 0.05 * np.sin(2 * np.pi * 1000 * t),
    }
    folder = tmp_path / "band"
    folder.mkdir()
    for name, audio in stems.items():
        soundfile.write(folder / f"{name}.wav", audio.astype(np.float32), RATE, subtype="FLOAT")
    soundfile.write(folder / "mixture.wav", sum(stems.values()).astype(np.float32), RATE, subtype="FLOAT")
    return folder / "mixture.wav"


def test_the_and_of_two_band_detectors_is_a_large_interaction_with_small_main_effects(band_song):
    pipeline = stemlime.Pipeline(tagger=BandAnd(), separator="oracle", cache=False, empty_mask="zeros")
    gram = stemlime.stemgram(pipeline, band_song, labels=["both", "low"])
    assert gram.n_frames == 3 and sorted(gram.stems) == ["high", "low", "other"]
    low, high, other = (gram.stems.index(s) for s in ("low", "high", "other"))
    games = gram.games["both"]
    assert np.allclose(games[1:, 1 << low], 0) and np.allclose(games[1:, 1 << high], 0)  # alone: nothing
    assert np.allclose(games[1:, -1], 1)  # together: the label
    index = gram.interactions("both")
    values = gram.values("both")
    assert np.allclose(index[1:, low, high], 1) and np.allclose(index[1:, low, other], 0)
    assert np.allclose(values[1:, low], 0.5) and np.allclose(values[1:, other], 0)
    assert np.allclose(values[0], 0)  # no 3 kHz in the first second: nothing to share
    # "low" alone is one detector: no interaction, all of it is the low stem's
    assert np.allclose(gram.interactions("low"), 0) and np.allclose(gram.values("low")[:, low], 1)
    sentences = gram.sentences()
    assert len(sentences) == 1 and "act together" in sentences[0] and "0.000 and 0.000 alone, 1.000 with both" in sentences[0]
    for label in gram.labels:
        assert gram.efficiency_error(label) < 1e-9


def test_the_stemgram_equals_brute_force_on_real_stems_and_is_efficient(tmp_path):
    sys.path.insert(0, str(tmp_path))
    (tmp_path / "framed_model.py").write_text(FRAMED)
    try:
        from framed_model import tagger
    finally:
        sys.path.remove(str(tmp_path))
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle", cache=False)
    gram = stemlime.stemgram(pipeline, PIECE / "mixture.wav", labels=["loud", "bright"])
    assert gram.n_frames == 4 and len(gram.stems) == 5 and gram.tagger_runs == 4 * 32
    for label in gram.labels:
        assert gram.efficiency_error(label) < 1e-9
    # frame 2 by hand: cut the stems, run the tagger on every mask, Shapley from the definition
    stems = pipeline.stems(PIECE / "mixture.wav", rate=RATE)
    cut = np.stack([s[2 * RATE : 3 * RATE] for s in stems.values()])
    empty = float(cut.sum(axis=0).min())  # audioLIME's all-off input

    def game(code):
        mask = np.array([(code >> i) & 1 for i in range(5)], np.float32)
        audio = mask @ cut if code else np.full(RATE, empty, np.float32)
        return float(tagger.predict(audio[None, :])[0, 0])

    assert np.allclose(gram.values("loud")[2], brute_force_shapley(game, 5), atol=1e-9, rtol=0)
    assert abs(gram.everything("loud")[2] - game(31)) < 1e-9 and abs(gram.nothing("loud")[2] - game(0)) < 1e-9
    record = gram.record()
    again = StemgramRecord.from_json(json.loads(json_text(record.to_json())))
    assert np.allclose(again.values["loud"], record.values["loud"]) and again.stems == record.stems


def test_each_block_mask_mixes_one_frames_stems_or_that_frames_own_silence():
    rng = np.random.default_rng(0)
    cuts = rng.standard_normal((3, 2, 50)).astype(np.float32)
    floors = np.array([-1.0, -2.0, -3.0], np.float32)
    masks = all_masks(2)
    components, blocks = frame_blocks(cuts, floors, masks)
    assert components.shape == (3 * 3, 50) and blocks.shape == (3 * 4, 3 * 3)
    mixed = blocks.astype(np.float32) @ components
    for frame in range(3):
        for row, mask in enumerate(masks):
            alone = mask.astype(np.float32) @ cuts[frame] if mask.any() else np.full(50, floors[frame], np.float32)
            np.testing.assert_allclose(mixed[frame * 4 + row], alone, rtol=0, atol=1e-6)
    # no mask is all off (the engine's own empty value never applies) and no two frames share a mask
    assert blocks.any(axis=1).all() and len(np.unique(blocks, axis=0)) == len(blocks)


def test_the_masks_of_many_frames_reach_the_tagger_in_one_batch_with_each_frames_values(band_song):
    calls = []

    class Counting(BandAnd):
        def predict(self, batch):
            calls.append(len(batch))
            return super().predict(batch)

    pipeline = stemlime.Pipeline(tagger=Counting(), separator="oracle", cache=False, batch_size=64)
    gram = stemlime.stemgram(pipeline, band_song, labels=["both", "low"])
    assert calls == [3 * 8] and gram.tagger_runs == 24  # 3 frames x 2^3 masks, one tagger call
    stems = pipeline.stems(band_song, rate=RATE)  # one engine per frame: the definition, frame by frame
    for frame in range(3):
        cut = np.stack([s[frame * RATE : (frame + 1) * RATE] for s in stems.values()])
        alone = pipeline.engine(cut).outputs(all_masks(3))
        np.testing.assert_allclose(gram.games["both"][frame], alone[:, 0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(gram.games["low"][frame], alone[:, 1], rtol=0, atol=1e-9)


@pytest.mark.skipif(importlib.util.find_spec("stemlime_musicnn") is None, reason="stemlime-musicnn is needed")
def test_a_tagger_that_mixes_where_it_runs_gives_the_same_stemgram():
    """musicnn with compose=device (the GPU path: C staged once, each batch of block masks mixed by
    the tagger) against the engine mixing on the host; on a CPU the CPU is the device."""
    from model_support import musicnn_folder

    musicnn_folder("MSD_musicnn")
    grams = {
        compose: stemlime.stemgram(
            stemlime.Pipeline(tagger=f"musicnn,device=cpu,compose={compose}", separator="oracle", cache=False),
            PIECE / "mixture.wav",
            labels=["rock", "female vocalists"],
        )
        for compose in ("host", "device")
    }
    assert grams["device"].tagger_runs == grams["host"].tagger_runs == 32 * grams["host"].n_frames
    for label in ("rock", "female vocalists"):  # the device path computes the log-mel in torch (within 1e-4)
        np.testing.assert_allclose(grams["device"].games[label], grams["host"].games[label], rtol=0, atol=1e-4)


def test_a_scan_with_its_stemgram_links_it_from_the_page(band_song, tmp_path):
    """(That the song is separated once, for the stemgram and every snippet, is checked on a real
    scan with spleeter: tests/test_report_browser.py.)"""
    pipeline = stemlime.Pipeline(tagger=BandAnd(), separator="oracle", cache=False, empty_mask="zeros")
    scan = stemlime.scan(pipeline, band_song, label="both", snippets=2, samples="exhaustive", stemgram=True, out=tmp_path / "scan")
    assert scan.stemgram.n_frames == 3 and scan.stemgram.labels == ["both"]
    assert "every frame, exactly (the stemgram):" in scan.summary() and "act together" in scan.summary()
    out = tmp_path / "scan"
    assert json.loads((out / "scan.json").read_text())["stemgram"] == "stemgram/"
    assert json.loads((out / "stemgram" / "stemgram.json").read_text())["labels"] == ["both"]
    page = (out / "index.html").read_text()
    assert 'href="stemgram/index.html"' in page and 'src="stemgram/stemgram-0.png"' in page
    frame = scan.snippets[0].window.frame  # each snippet shows the stems' exact values at its frame
    row = ", ".join(f"{stem} {value:+.3f}" for stem, value in zip(scan.stemgram.stems, scan.stemgram.values("both")[frame]))
    assert f"exact at this frame (the stemgram): {row}" in page
    assert (out / "stemgram" / "index.html").is_file()
    plain = stemlime.scan(pipeline, band_song, label="both", snippets=1, samples="exhaustive", out=tmp_path / "plain")
    assert plain.stemgram is None and "stemgram" not in json.loads((tmp_path / "plain" / "scan.json").read_text())
    assert "Every frame, stem by stem" not in (tmp_path / "plain" / "index.html").read_text()


def test_the_scan_command_writes_the_stemgram_with_stemgram(cli, tmp_path):
    (tmp_path / "framed_model.py").write_text(FRAMED)
    tagger = f"python,object=framed_model:tagger,path={tmp_path}"
    done = cli(
        "scan",
        str(PIECE / "mixture.wav"),
        "--tagger",
        tagger,
        "--separator",
        "oracle",
        "--label",
        "loud",
        "--snippets",
        "1",
        "--samples",
        "64",
        "--stemgram",
        "--out",
        str(tmp_path / "s"),
    )
    assert done.returncode == 0, done.stderr
    assert "every frame, exactly (the stemgram):" in done.stdout and f"{tmp_path / 's' / 'stemgram'}/" in done.stdout
    gram = json.loads((tmp_path / "s" / "stemgram" / "stemgram.json").read_text())
    assert len(gram["stems"]) == 5 and len(gram["times"]) == 4 and gram["labels"] == ["loud"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stemlime", *args], capture_output=True, text=True)


def test_the_stemgram_command_writes_json_picture_players_and_page(tmp_path):
    (tmp_path / "framed_model.py").write_text(FRAMED)
    out = tmp_path / "gram"
    tagger = f"python,object=framed_model:tagger,path={tmp_path}"
    result = run_cli(
        "stemgram",
        str(PIECE / "mixture.wav"),
        "--tagger",
        tagger,
        "--separator",
        "oracle",
        "--label",
        "loud",
        "--label",
        "bright",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "stemgram of" in result.stdout and "4 frames" in result.stdout and "loud: peaks at" in result.stdout
    data = json.loads((out / "stemgram.json").read_text())
    assert data["schema"] == 1 and data["labels"] == ["loud", "bright"] and len(data["times"]) == 4
    assert np.asarray(data["per_label"]["loud"]["values"]).shape == (4, 5)
    assert np.asarray(data["per_label"]["loud"]["interactions"]).shape == (4, 5, 5)
    assert data["per_label"]["loud"]["efficiency_error"] < 1e-9
    assert (out / "stemgram-0.png").stat().st_size > 5000 and (out / "stemgram-1.png").is_file()
    page = (out / "index.html").read_text()
    assert 'src="stemgram-0.png"' in page and page.count("<audio") == 6 and 'class="frame"' in page
    assert "http://" not in page and "https://" not in page
    # the page renders again from the folder alone
    (out / "index.html").unlink()
    assert render_report(out).is_file()
    # a second run replaces the folder; bad flags are usage errors naming the flag
    assert run_cli("stemgram", str(PIECE / "mixture.wav"), "--tagger", tagger, "--label", "loud", "--out", str(out)).returncode == 0
    bad = run_cli(
        "stemgram", str(PIECE / "mixture.wav"), "--tagger", tagger, "--label", "loud", "--batch-size", "0", "--out", str(tmp_path / "x")
    )
    assert bad.returncode == 2 and "--batch-size" in bad.stderr and not (tmp_path / "x").exists()
    missing = run_cli("stemgram", str(PIECE / "mixture.wav"), "--tagger", tagger, "--out", str(tmp_path / "y"))
    assert missing.returncode == 2 and "--label" in missing.stderr
    wrong = run_cli("stemgram", str(PIECE / "mixture.wav"), "--tagger", tagger, "--label", "lod", "--out", str(tmp_path / "z"))
    assert wrong.returncode == 2 and "loud" in wrong.stderr and not (tmp_path / "z").exists()
    inside = run_cli("stemgram", str(PIECE / "mixture.wav"), "--tagger", tagger, "--label", "loud", "--out", str(PIECE))
    assert inside.returncode != 0 and (PIECE / "mixture.wav").is_file()


def test_the_notebook_shows_the_picture_and_summary(band_song):
    gram = stemlime.stemgram(stemlime.Pipeline(tagger=BandAnd(), separator="oracle", cache=False), band_song, labels="both")
    html = gram._repr_html_()
    assert html.count("data:image/png;base64,") == 1 and "stemgram of" in html


def test_an_exhaustive_explanation_says_when_two_components_act_together(band_song):
    pipeline = stemlime.Pipeline(tagger=BandAnd(), separator="oracle", cache=False, empty_mask="zeros")
    explanation = pipeline.explain(band_song, start=1.0, duration=1.0, labels=["both"], samples="exhaustive")
    exact = explanation.shapley("both")
    assert exact["values"]["low"] == pytest.approx(0.5) and exact["values"]["other"] == pytest.approx(0, abs=1e-12)
    pair = exact["interactions"].get(("low", "high"), exact["interactions"].get(("high", "low")))
    assert pair == pytest.approx(1.0)
    summary = explanation.summary()
    assert "act together: 0.000 and 0.000 alone, 1.000 with both" in summary
    sampled = pipeline.explain(band_song, start=1.0, duration=1.0, labels=["both"], samples=10, seed=0)
    assert len(np.unique(sampled.neighbourhood.masks, axis=0)) < 8  # not every mask: no exact values claimed
    assert sampled.shapley("both") is None and "act together" not in sampled.summary()
    assert "exact" not in json.loads(sampled.to_json())


def test_the_exact_values_and_their_notes_are_in_explanation_json_and_on_the_page(band_song, tmp_path):
    pipeline = stemlime.Pipeline(tagger=BandAnd(), separator="oracle", cache=False, empty_mask="zeros")
    explanation = pipeline.explain(band_song, start=1.0, duration=1.0, labels=["both"], samples="exhaustive")
    explanation.save(tmp_path / "e", report=True)
    data = json.loads((tmp_path / "e" / "explanation.json").read_text())
    exact = data["exact"]["both"]
    assert exact["values"]["low"] == pytest.approx(0.5) and exact["values"]["other"] == pytest.approx(0, abs=1e-12)
    pair = next(p for p in exact["interactions"] if sorted(p["components"]) == ["high", "low"])
    assert pair["index"] == pytest.approx(1.0)
    assert any("act together: 0.000 and 0.000 alone, 1.000 with both" in note for note in exact["notes"])
    again = stemlime.records.read_explanation(tmp_path / "e")  # the reader keeps them
    assert again.exact["both"].notes == exact["notes"] and again.exact["both"].values["low"] == pytest.approx(0.5)
    page = (tmp_path / "e" / "index.html").read_text()
    assert "Exact Shapley values" in page and "act together" in page and ("high × low" in page or "low × high" in page)


def test_the_readme_stemgram_python_block_runs(capsys):
    from readme import code_block_after, doc

    exec(compile(code_block_after("# The stemgram", "python", readme=doc("tutorials/stemgram.md")), "README", "exec"), {})
    printed = capsys.readouterr().out
    assert "4 frames" in printed and "5 stems" in printed


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("stemlime_musicnn", "stemlime_spleeter")),
    reason="stemlime-musicnn and stemlime-spleeter are needed",
)
def test_the_readme_stemgram_command_runs(tmp_path):
    import shutil

    from model_support import _model_folder as require_model
    from readme import code_block_after, doc, run_commands

    require_model("spleeter/2stems")
    shutil.copy(PIECE / "mixture.wav", tmp_path / "song.wav")
    results = run_commands(code_block_after("# The stemgram", "bash", readme=doc("tutorials/stemgram.md")), tmp_path)
    assert "female vocalists: peaks at" in results[0].stdout
    data = json.loads((tmp_path / "stemgram-out" / "stemgram.json").read_text())
    assert data["stems"] == ["vocals", "accompaniment"] and data["per_label"]["female vocalists"]["efficiency_error"] < 1e-9
    scanned = run_commands(code_block_after("# The stemgram", "bash", 1, readme=doc("tutorials/stemgram.md")), tmp_path)
    assert "every frame, exactly (the stemgram):" in scanned[0].stdout
    assert json.loads((tmp_path / "scan-out" / "scan.json").read_text())["stemgram"] == "stemgram/"
    assert 'href="stemgram/index.html"' in (tmp_path / "scan-out" / "index.html").read_text()


EXAMPLE = Path(__file__).resolve().parent / "data" / "audio_example" / "audio_example.mp3"  # spleeter's, CC BY 3.0


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("stemlime_musicnn", "stemlime_spleeter")),
    reason="stemlime-musicnn and stemlime-spleeter are needed",
)
def test_the_readme_stemgram_of_spleeters_audio_example_flags_vocals_and_accompaniment_at_5_98_s(tmp_path):
    """The README's block and its printed lines, run as written (from a folder holding tests/data/audio_example)."""
    import re

    from model_support import _model_folder as require_model
    from readme import code_block_after, run_commands

    require_model("spleeter/2stems")
    require_model("musicnn/MSD_musicnn")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    (tmp_path / "tests" / "data" / "audio_example").symlink_to(EXAMPLE.parent)
    printed = run_commands(code_block_after("## The whole song, stem by stem", "bash"), tmp_path)[0].stdout
    shown = code_block_after("## The whole song, stem by stem", "text")
    number = re.compile(r"[-+]?\d+\.\d+(?:e[-+]\d+)?")
    assert len(printed.splitlines()) == len(shown.splitlines()) + 1  # and the line naming the files written
    for line, expected in zip(printed.splitlines(), shown.splitlines()):
        assert number.sub("#", line) == number.sub("#", expected), (line, expected)  # the same words ...
        for got, want in zip(number.findall(line), number.findall(expected)):  # ... and the same numbers
            assert float(got) == pytest.approx(float(want), abs=2e-3), (line, expected)
    data = json.loads((tmp_path / "stemgram-out" / "stemgram.json").read_text())
    frames = data["per_label"]["female vocalists"]
    peak = int(np.argmax(frames["everything"]))
    assert data["times"][peak] == pytest.approx(5.984) and frames["everything"][peak] == pytest.approx(0.367, abs=2e-3)
    vocals, accompaniment = data["stems"].index("vocals"), data["stems"].index("accompaniment")
    assert frames["interactions"][peak][vocals][accompaniment] > 0.2  # larger than the vocals' own share (0.13)
    assert len(data["sentences"]) == 1 and "vocals and accompaniment act together at 5.98 s" in data["sentences"][0]
    assert (tmp_path / "stemgram-out" / "stemgram-0.png").is_file() and (tmp_path / "stemgram-out" / "index.html").is_file()


def test_more_than_eight_stems_get_kernel_shaps_estimate_and_say_so(tmp_path, cli):
    """Nine stems: 512 sampled masks a frame instead of 2^9. The tagger is the input's power and
    the stems are sines of whole-hertz frequencies over whole seconds, so the output is additive
    in the stems (each stem's power) and kernel SHAP's estimate must equal it."""
    t = np.arange(2 * RATE) / RATE
    stems = {f"s{n}": (0.1 + 0.02 * n) * np.sin(2 * np.pi * (200 + 100 * n) * t) for n in range(9)}
    for name, audio in stems.items():
        soundfile.write(tmp_path / f"{name}.wav", audio.astype(np.float32), RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "mixture.wav", sum(stems.values()).astype(np.float32), RATE, subtype="FLOAT")

    class Power(BandAnd):
        labels = ["power"]

        def predict(self, batch):
            return (batch.astype(np.float64) ** 2).mean(axis=1, keepdims=True)

    pipeline = stemlime.Pipeline(tagger=Power(), separator="oracle", cache=False, empty_mask="zeros")
    gram = stemlime.stemgram(pipeline, tmp_path / "mixture.wav", labels="power")
    assert not gram.exact and gram.n_frames == 2 and gram.tagger_runs == 2 * 512
    assert "kernel SHAP estimate: 512 sampled stem masks per frame" in gram.summary()
    power = {name: (0.1 + 0.02 * int(name[1:])) ** 2 / 2 for name in gram.stems}
    np.testing.assert_allclose(gram.values("power"), [[power[s] for s in gram.stems]] * 2, rtol=0, atol=1e-5)
    assert gram.values("power") is gram.values("power") and not gram.values("power").flags.writeable  # fitted once per label
    assert gram.efficiency_error("power") < 1e-9 and np.isnan(gram.interactions("power")).all() and gram.sentences() == []
    assert gram.everything("power") == pytest.approx([sum(power.values())] * 2, abs=1e-5)
    assert gram.nothing("power") == pytest.approx([0, 0], abs=1e-12)
    again = stemlime.stemgram(pipeline, tmp_path / "mixture.wav", labels="power", samples=64, seed=3)
    assert again.tagger_runs <= 2 * 64 and again.method.startswith("kernel SHAP estimate: 64")  # distinct masks run once
    assert np.array_equal(
        again.values("power"), stemlime.stemgram(pipeline, tmp_path / "mixture.wav", labels="power", samples=64, seed=3).values("power")
    )  # seeded
    (tmp_path / "framed_model.py").write_text(FRAMED)
    done = cli(
        "stemgram",
        str(tmp_path / "mixture.wav"),
        "--tagger",
        "python,object=framed_model:tagger,path=" + str(tmp_path),
        "--separator",
        "oracle",
        "--label",
        "loud",
        "--samples",
        "1",
        "--out",
        str(tmp_path.parent / "never"),
    )
    assert done.returncode == 2 and "--samples" in done.stderr and not (tmp_path.parent / "never").exists()
    data = json.loads(json_text(gram.record().to_json()))
    assert data["method"].startswith("kernel SHAP") and data["per_label"]["power"]["interactions"][0][0][1] is None
