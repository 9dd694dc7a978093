"""The pages in a real headless Chromium, at desktop and phone width: no console errors, every
player has a duration, every picture loads, nothing comes from the network, no sideways
scrolling. The scan is a real one (musicnn and spleeter 2stems on a 30-s song), which
also shows that its snippets are the taggram's top frames and that the song is separated once."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile

import stemlime
from stemlime.stemcache import StemCache
from browser import DESKTOP, PHONE, assert_page_works, look_at, require_browser
from conftest import DATA, PIECE, STEMS
from model_support import musicnn_folder, spleeter_folder
from test_report import explained, loudness_pipeline

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def explanation_folder(tmp_path_factory):
    pytest.importorskip("stemlime_temporal", reason="stemlime-temporal is not installed")
    pipeline = loudness_pipeline(separator="oracle", segmenter="uniform,n=4")
    explanation = pipeline.explain(
        PIECE / "mixture.wav", start=1.0, duration=3.0, samples=1000, seed=0, checks="fidelity,stability,complexity"
    )
    return explanation.save(tmp_path_factory.mktemp("page") / "out", k=2, report=True)


@pytest.fixture(scope="module")
def song30(tmp_path_factory):
    """A 30-s song at 16 kHz: the two 10-s fixture pieces and the first again."""
    pieces = [soundfile.read(DATA / "musicnn" / f"piece{n}_mixture_16k.wav", dtype="float32")[0] for n in (1, 2)]
    path = tmp_path_factory.mktemp("song") / "song.wav"
    soundfile.write(path, np.concatenate(pieces + pieces[:1]), 16000, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def real_scan(song30, tmp_path_factory):
    pytest.importorskip("stemlime_musicnn", reason="stemlime-musicnn is not installed")
    pytest.importorskip("stemlime_spleeter", reason="stemlime-spleeter is not installed")
    musicnn_folder("MSD_musicnn")
    spleeter_folder("2stems")
    pipeline = stemlime.Pipeline(tagger="musicnn", separator="spleeter:2stems", cache=StemCache(tmp_path_factory.mktemp("stems")))
    separator = pipeline.separator
    runs = []
    separate = separator.separate
    separator.separate = lambda audio, rate, **kw: runs.append(len(audio)) or separate(audio, rate, **kw)
    scan = stemlime.scan(pipeline, song30, label="female vocalists", snippets=3, samples=300, seed=0, stemgram=True)
    out = scan.save(tmp_path_factory.mktemp("scan") / "scan")
    return pipeline, scan, out, runs


@pytest.mark.parametrize("size, name", [(DESKTOP, "explain-desktop.png"), (PHONE, "explain-phone.png")], ids=["desktop", "phone"])
def test_the_explanation_page_works_in_chromium(explanation_folder, size, name):
    require_browser()
    seen = look_at(explanation_folder, size=size, screenshot=name)
    assert_page_works(seen)
    assert len(seen["durations"]) == 1 + 1 + len(STEMS) * 4
    assert all(audio["duration"] == pytest.approx(3.0, abs=0.01) for audio in seen["durations"])
    assert "by stem and segment" in seen["text"].lower() and "Kendall tau" in seen["text"]


def test_the_jupyter_card_plays_its_embedded_audio_in_chromium(tmp_path):
    require_browser()
    (tmp_path / "notebook.html").write_text(
        f"<!DOCTYPE html><html><head><meta name='viewport' content='width=device-width'>"
        f"<link rel='icon' href='data:,'></head><body>{explained()._repr_html_()}</body></html>"
    )
    seen = look_at(tmp_path, "notebook.html", size=PHONE)
    assert_page_works(seen)
    assert len(seen["durations"]) == 2 + len(STEMS) and all(a["src"].startswith("data:audio/wav") for a in seen["durations"])


def test_a_real_scans_snippets_are_its_taggrams_top_frames_and_its_song_is_separated_once(real_scan, song30):
    pipeline, scan, out, runs = real_scan
    assert runs == [30 * 44100], "spleeter separated the whole song once (at its 44.1 kHz) for the stemgram and all three snippets"
    assert scan.stemgram.n_frames == len(scan.taggram) == 10
    taggram, hop = pipeline.taggram(song30)
    assert hop == pytest.approx(187 * 256 / 16000)
    np.testing.assert_allclose(scan.taggram, taggram)
    column = taggram[:, pipeline.tagger_labels.index("female vocalists")]
    assert [s.window.frame for s in scan.snippets] == list(np.argsort(-column, kind="stable")[:3])
    data = json.loads((out / "scan.json").read_text())
    assert data["verdict"] == scan.verdict() and sum(data["summary"].values()) == 3
    for snippet in data["snippets"]:
        assert snippet["end"] - snippet["start"] == pytest.approx(3.0)
        assert snippet["top_component"] in ("vocals", "accompaniment")


@pytest.mark.parametrize("size, name", [(DESKTOP, "scan-desktop.png"), (PHONE, "scan-phone.png")], ids=["desktop", "phone"])
def test_the_scan_page_works_in_chromium(real_scan, size, name):
    require_browser()
    _, scan, out, _ = real_scan
    seen = look_at(out, size=size, screenshot=name)
    assert_page_works(seen)
    assert len(seen["images"]) == 2, "the taggram and the stemgram"
    assert "Every frame, stem by stem" in seen["text"] and "exact at this frame" in seen["text"]
    assert_page_works(look_at(out, "stemgram/index.html", size=size))  # the page it links to
    assert len(seen["durations"]) == 2 * len(scan.snippets), "each snippet and its explanation"
    assert scan.verdict() in seen["text"]


def test_a_scans_snippet_page_works_in_chromium(real_scan):
    require_browser()
    _, scan, out, _ = real_scan
    seen = look_at(out, f"{scan.snippets[0].folder}/index.html", size=PHONE)
    assert_page_works(seen)
    assert len(seen["durations"]) == 1 + 1 + 2, "the snippet, its explanation, vocals and accompaniment"


# ---------------------------------------------------------------------------- the dataset page


@pytest.fixture(scope="module")
def dataset_runs(tmp_path_factory):
    """explain-dataset with --report on four rendered 3-s tracks and a broken one, with the
    windowed toy tagger: once with an excerpt per track (and a metadata table), once in snippets."""
    from dataset_support import LOUD_BRIGHT_WINDOWED, render_tracks, write_module

    root = tmp_path_factory.mktemp("dataset")
    data = render_tracks(root / "data")
    spec = write_module(root / "models", f"browser_windowed_{root.name}", LOUD_BRIGHT_WINDOWED)
    (root / "genres.csv").write_text("track,genre\nsong-0,rock\nsong-1,folk\nsong-2,rock\nsong-3,folk\n")
    pipeline = stemlime.Pipeline(tagger=spec, separator="oracle")
    plain = stemlime.explain_dataset(
        pipeline, data, root / "plain", top_labels=2, samples=64, metadata=root / "genres.csv", report=True, progress=False
    )
    snippets = stemlime.explain_dataset(pipeline, data, root / "snippets", snippets="best:2", samples=64, report=True, progress=False)
    return plain, snippets


@pytest.mark.parametrize("size, name", [(DESKTOP, "dataset-desktop.png"), (PHONE, "dataset-phone.png")], ids=["desktop", "phone"])
def test_the_dataset_page_works_in_chromium(dataset_runs, size, name):
    require_browser()
    plain, _ = dataset_runs
    seen = look_at(plain.out, size=size, screenshot=name)
    assert_page_works(seen)
    assert len(seen["durations"]) == len(plain.explained), "a player per track: its first label's explanation"
    assert all(audio["duration"] == pytest.approx(3.0, abs=0.01) for audio in seen["durations"])
    assert "AudioError" in seen["text"] and "Top predicted tag by genre" in seen["text"]
    assert "homogeneity importance" in seen["text"]


def test_a_dataset_page_of_snippets_works_in_chromium(dataset_runs):
    require_browser()
    _, snippets = dataset_runs
    seen = look_at(snippets.out, size=PHONE, screenshot="dataset-snippets-phone.png")
    assert_page_works(seen)
    assert len(seen["durations"]) == len(snippets.explained)
    assert all(audio["duration"] == pytest.approx(1.0, abs=0.01) for audio in seen["durations"])
    for track in snippets.explained:
        verdict = json.loads((snippets.out / "tracks" / track / "scan.json").read_text())["verdict"]
        assert verdict in seen["text"]
    page = (snippets.out / "index.html").read_text()
    assert set(re.findall(r'href="(tracks/[^"]+)"', page)) == {f"tracks/{track}/index.html" for track in snippets.explained}
    assert all("where is" in (snippets.out / "tracks" / track / "index.html").read_text() for track in snippets.explained), (
        "each track's page is its scan's"
    )


@pytest.fixture(scope="module")
def real_stemgram(song30, tmp_path_factory):
    pytest.importorskip("stemlime_musicnn", reason="stemlime-musicnn is not installed")
    pytest.importorskip("stemlime_spleeter", reason="stemlime-spleeter is not installed")
    musicnn_folder("MSD_musicnn")
    spleeter_folder("2stems")
    pipeline = stemlime.Pipeline(tagger="musicnn", separator="spleeter:2stems", cache=StemCache(tmp_path_factory.mktemp("stems")))
    separator = pipeline.separator
    runs = []
    separate = separator.separate
    separator.separate = lambda audio, rate, **kw: runs.append(len(audio)) or separate(audio, rate, **kw)
    gram = stemlime.stemgram(pipeline, song30, labels=["female vocalists"], out=tmp_path_factory.mktemp("stemgram") / "stemgram")
    return gram, tmp_path_factory.getbasetemp(), runs


@pytest.mark.parametrize("size, name", [(DESKTOP, "stemgram-desktop.png"), (PHONE, "stemgram-phone.png")], ids=["desktop", "phone"])
def test_the_stemgram_page_of_a_real_song_works_in_chromium(real_stemgram, size, name):
    gram, _, runs = real_stemgram
    assert len(runs) == 1  # the song is separated once, every frame cuts its stems from that
    assert gram.stems == ["vocals", "accompaniment"] and gram.n_frames == 10
    taggram, _ = stemlime.Pipeline(tagger="musicnn").taggram(gram.audio_path)
    # with every stem on, each frame's output is the song's taggram there, up to what the stems miss of the mix
    index = stemlime.Pipeline(tagger="musicnn").tagger_labels.index("female vocalists")
    everything = gram.everything("female vocalists")
    assert np.allclose(everything, taggram[: gram.n_frames, index], atol=0.03)
    assert np.argmax(everything) == np.argmax(taggram[: gram.n_frames, index])  # the stemgram peaks where the taggram does
    assert gram.efficiency_error("female vocalists") < 1e-9
    require_browser()
    folder = next(p.parent for p in gram_folder_candidates(real_stemgram))
    axis = json.loads((folder / "stemgram.json").read_text())["time_axes"]["female vocalists"]

    def click_the_picture(view):
        """Click the picture where 13.5 s lies on its time axis: every player goes to frame 4's start."""
        picture = view.locator("img.stemgram").first
        picture.scroll_into_view_if_needed()
        box = picture.bounding_box()
        share = axis[0] + (13.5 - axis[2]) / (axis[3] - axis[2]) * (axis[1] - axis[0])
        picture.click(position={"x": share * box["width"], "y": box["height"] * 0.8})
        return view.evaluate("Array.from(document.querySelectorAll('#players audio')).map(a => [a.currentTime, a.paused])")

    seen = look_at(folder, size=size, screenshot=name, act=click_the_picture)
    assert_page_works(seen)
    assert len(seen["durations"]) == 3  # the song and its two stems
    assert all(audio["duration"] == pytest.approx(30.0, abs=0.05) for audio in seen["durations"])
    (song, _), *stems = seen["acted"]
    start = 4 * gram.hop_seconds  # 11.968 s: musicnn's frames are 2.992 s apart
    assert start <= song < start + 0.5 and all(at == pytest.approx(start) and paused for at, paused in stems), seen["acted"]


def gram_folder_candidates(real_stemgram):
    _, base, _ = real_stemgram
    return sorted(base.glob("stemgram*/stemgram/stemgram.json"))
