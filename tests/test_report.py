"""Listening reports: what a page holds, how it is written, and the same card in Jupyter.

The browser's view of the pages is in test_report_browser.py."""

from __future__ import annotations

import base64
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

import stemlime
from stemlime.separation import write_stems
from stemlime.report import render_report
from conftest import PIECE, STEMS, stemlime_cli, write_loudness_module
from readme import code_block_after, doc

ROOT = Path(__file__).parents[1]


def loudness_pipeline(**settings) -> stemlime.Pipeline:
    namespace: dict = {}
    from conftest import LOUDNESS_MODULE

    exec(LOUDNESS_MODULE, namespace)
    return stemlime.Pipeline(tagger=namespace["tagger"], **settings)


def explained(**options) -> stemlime.Explanation:
    options = {"start": 1.0, "duration": 3.0, "samples": "exhaustive", "seed": 0} | options
    return loudness_pipeline(separator="oracle").explain(PIECE / "mixture.wav", **options)


def sources(html: str, tag: str) -> list[str]:
    return re.findall(rf'<{tag}[^>]*\ssrc="([^"]+)"', html)


# ---------------------------------------------------------------------------- the explanation page


def test_an_explanation_page_has_a_player_for_the_input_every_component_and_the_explanation(tmp_path):
    explanation = explained()
    out = explanation.save(tmp_path / "out", report=True)
    html = (out / "index.html").read_text()
    audio = sources(html, "audio")
    assert audio == ["excerpt.wav", "explanations/loud.wav"] + [f"components/{stem}.wav" for stem in STEMS]
    assert all((out / path).is_file() for path in audio)
    excerpt, _ = soundfile.read(out / "excerpt.wav", dtype="float32")
    np.testing.assert_array_equal(excerpt, explanation.component_audio.sum(axis=0))
    label = explanation.label("loud")
    assert f"{label.prediction:.3f}" in html and f"{label.score:.3f}" in html, "the prediction and the surrogate score"
    for component, weight in label.weights.items():
        assert f"{weight:+.4f}" in html, component
    assert "the explanation: bass" in html
    # one inline-SVG bar per weight, and (every mask was evaluated) one per exact Shapley value
    assert html.count("<svg") == 2 * len(STEMS) and "Exact Shapley values" in html
    assert "Checks" not in html and "By stem and segment" not in html


def test_a_page_is_self_contained_and_works_offline(tmp_path):
    out = explained().save(tmp_path / "out", report=True)
    html = (out / "index.html").read_text()
    assert "<script" not in html and "@import" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "nothing from the network"
    assert not re.findall(r"https?://", html.replace("http://www.w3.org", ""))


def test_the_page_shows_the_checks_and_the_stems_by_segments_heatmap(tmp_path):
    pytest.importorskip("stemlime_temporal", reason="stemlime-temporal is not installed")
    pipeline = loudness_pipeline(separator="oracle", segmenter="uniform,n=3")
    explanation = pipeline.explain(PIECE / "mixture.wav", start=1.0, duration=3.0, samples=500, seed=0, checks="fidelity,complexity")
    html = (explanation.save(tmp_path / "out", report=True) / "index.html").read_text()
    assert "By stem and segment" in html
    heatmap = html[html.index('aria-label="weights by stem and segment"') :]
    heatmap = heatmap[: heatmap.index("</svg>")]
    assert heatmap.count("<rect") == len(STEMS) * 3
    for name, weight in explanation.weights("loud").items():
        stem, segment = name.split("@")
        assert f"<title>{stem} @ {segment}: {weight:+.4f}</title>" in heatmap
    assert "deletion AOPC (random order)" in html and "entropy of |weights|" in html
    assert len(sources(html, "audio")) == 1 + 1 + len(STEMS) * 3


def test_stemlime_report_renders_explain_check_and_separate_folders(tmp_path):
    model = write_loudness_module(tmp_path)
    out = tmp_path / "explained"
    assert (
        stemlime_cli(
            "explain",
            str(PIECE / "mixture.wav"),
            "--tagger",
            f"python,object=mymodel:tagger,path={model}",
            "--start",
            "1",
            "--duration",
            "3",
            "--quiet",
            "--out",
            str(out),
        ).returncode
        == 0
    )
    assert not (out / "index.html").exists()
    result = stemlime_cli("report", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / "index.html") and "excerpt.wav" in (out / "index.html").read_text()

    checked = explained(checks="complexity").save(tmp_path / "checked")  # what check --out writes
    assert "entropy of |weights|" in render_report(checked).read_text()
    stems, rate = loudness_pipeline(separator="oracle").separate(PIECE / "mixture.wav", start=1.0, duration=1.0)
    write_stems(stems, rate, tmp_path / "stems")
    assert sources(render_report(tmp_path / "stems").read_text(), "audio") == [f"{stem}.wav" for stem in STEMS]


def test_explain_and_check_report_flags_write_the_page_with_the_result(tmp_path):
    model = write_loudness_module(tmp_path)
    tagger = f"python,object=mymodel:tagger,path={model}"
    song = str(PIECE / "mixture.wav")
    result = stemlime_cli("explain", song, "--tagger", tagger, "--start", "1", "--duration", "3", "--report", "--out", str(tmp_path / "a"))
    assert result.returncode == 0 and f"{tmp_path / 'a' / 'index.html'}" in result.stdout
    result = stemlime_cli(
        "check", "fidelity", song, "--tagger", tagger, "--start", "1", "--duration", "3", "--report", "--out", str(tmp_path / "b")
    )
    assert result.returncode == 0 and "surrogate R^2" in (tmp_path / "b" / "index.html").read_text()
    result = stemlime_cli("check", "fidelity", song, "--tagger", tagger, "--report")
    assert result.returncode == 2 and "give --out DIR too" in result.stderr


def test_an_embedded_page_travels_alone(tmp_path):
    out = explained().save(tmp_path / "out")
    render_report(out, embed=True)
    moved = tmp_path / "elsewhere.html"
    shutil.move(out / "index.html", moved)
    urls = sources(moved.read_text(), "audio")
    assert len(urls) == 2 + len(STEMS) and all(url.startswith("data:audio/wav;base64,") for url in urls)
    audio, rate = soundfile.read(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])), dtype="float32")
    np.testing.assert_array_equal(audio, soundfile.read(out / "excerpt.wav", dtype="float32")[0])


def test_report_refuses_folders_it_cannot_render_and_changes_nothing(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = stemlime_cli("report", str(tmp_path / "mine"))
    assert result.returncode == 2 and "not a stemlime result folder" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    with pytest.raises(stemlime.UsageError, match="is not a folder"):
        render_report(tmp_path / "nowhere")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".stemlime-output.json").write_text('{"kind": "hologram"}')
    with pytest.raises(stemlime.UsageError, match="no page for result folders of kind 'hologram'"):
        render_report(tmp_path / "other")


def test_rendering_again_replaces_only_the_page(tmp_path):
    out = explained().save(tmp_path / "out", report=True)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    render_report(out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "the same folder gives the same page, byte for byte; nothing else changes"


def test_a_page_kind_is_one_template_and_one_registered_context_function(tmp_path):
    from stemlime.report import PAGES, page, render_html
    from stemlime.records import read_explanation
    from stemlime.report.pages import explanation_card

    out = explained().save(tmp_path / "track")
    (tmp_path / "set").mkdir()
    shutil.move(out, tmp_path / "set" / "track")
    (tmp_path / "set" / ".stemlime-output.json").write_text('{"kind": "example-set"}')

    @page("example-set", "explanation.html")  # reusing a built-in template, as a new kind would its own
    def example_context(folder, media):
        return {"title": "a set", "e": explanation_card(read_explanation(folder / "track"), media.under("track")), "json": None}

    try:
        html = render_report(tmp_path / "set").read_text()
    finally:
        del PAGES["example-set"]
    assert sources(html, "audio")[0] == "track/excerpt.wav"
    assert (tmp_path / "set" / "track" / "index.html").is_file(), "a nested result folder gets its page too"
    assert "<h1>" in render_html("stems.html", {"title": "t", "rate": 1, "stems": [], "json": None})


# ---------------------------------------------------------------------------- Jupyter


def test_the_jupyter_card_embeds_every_player_as_a_wav(tmp_path):
    explanation = explained()
    html = explanation._repr_html_()
    urls = sources(html, "audio")
    assert len(urls) == 2 + len(STEMS) and all(url.startswith("data:audio/wav;base64,") for url in urls)
    heard = [soundfile.read(io.BytesIO(base64.b64decode(url.split(",", 1)[1])), dtype="float32") for url in urls]
    assert all(rate == 16000 for _, rate in heard)
    np.testing.assert_allclose(heard[1][0], explanation.audio("loud"), atol=1 / 32768), "16-bit PCM of the explanation"
    page = (explanation.save(tmp_path / "out", report=True) / "index.html").read_text()

    def card(text: str) -> str:  # the card without its audio sources
        text = text[text.index('<div class="explanation">') : text.index("<!-- end of the explanation card -->")]
        return re.sub(r'src="[^"]*"', 'src=""', text)

    assert card(html) == card(page), "one template: the notebook's card is the page's, audio sources aside"


def test_play_returns_an_ipython_audio_player_of_the_explanation():
    pytest.importorskip("IPython", reason="IPython is not installed (the test extra brings ipykernel)")
    from IPython.display import Audio

    explanation = explained()
    player = explanation.play("loud")
    assert isinstance(player, Audio) and player.data[:4] == b"RIFF"
    decoded, rate = soundfile.read(io.BytesIO(player.data), dtype="float32")
    assert rate == 16000
    np.testing.assert_allclose(decoded, explanation.audio("loud"), atol=2 / 32767)  # IPython truncates to 16 bits
    with pytest.raises(stemlime.UsageError, match="was not explained"):
        explanation.play("quiet")


@pytest.mark.notebook
@pytest.mark.slow
def test_the_quickstart_notebook_runs_and_shows_the_card(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs for cell in code), "the notebook is committed without outputs"
    assert code[0].source in code_block_after("## 30-second example", "python"), "the README's example"
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the example's relative path to the piece
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], "no warnings either"
    assert "'bass': 0.152" in code[0].outputs[0].text
    card = code[1].outputs[0].data["text/html"]
    assert card.count("data:audio/wav;base64,") == 2 + len(STEMS)
    assert "<audio" in code[2].outputs[0].data["text/html"]
    assert (tmp_path / "out" / "index.html").is_file()


def test_the_readme_jupyter_lines_run_after_the_30_second_example(tmp_path, monkeypatch):
    pytest.importorskip("IPython", reason="IPython is not installed (the test extra brings ipykernel)")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code_block_after("## 30-second example", "python"), namespace)
    exec(code_block_after("**In Jupyter**", "python", readme=doc("tutorials/song-scan.md")), namespace)
    assert "data:audio/wav;base64," in namespace["explanation"]._repr_html_()
    assert (tmp_path / "out" / "index.html").is_file()
