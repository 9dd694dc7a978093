"""The song scan: the snippets are the taggram's top frames for the label, each is explained, the
song is separated once, and the scan folder (scan.json, taggram.png, index.html, snippets/) is
written whole."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

import stemlime
from stemlime.scanning import SnippetWindow, best_snippets
from stemlime.stemcache import StemCache
from stemlime.tagging import taggram as tagging_taggram

RATE = 16000
# piano's loudness in each 1-s window of the song: the "jazz" taggram follows it, so its top
# frames are known: 3 (0.8), 7 (0.7), 5 (0.6), then 1 (0.5)
PIANO_GAINS = [0.1, 0.5, 0.2, 0.8, 0.05, 0.6, 0.3, 0.7, 0.15, 0.4, 0.25, 0.35]
TOP_FRAMES = [3, 7, 5]

KNOWN_TAGGER = """
import numpy as np

class PianoMeter:
    '''jazz: how loud a 440-Hz tone is in the input (its amplitude, read off the Fourier
    coefficient); rock: how loud the input is overall. One-second inputs at 16 kHz.'''
    labels = ["jazz", "rock"]
    sample_rate = 16000
    input_seconds = 1.0

    def predict(self, batch):
        batch = np.asarray(batch, dtype=np.float64)
        t = np.arange(batch.shape[1]) / self.sample_rate
        sine, cosine = np.sin(2 * np.pi * 440 * t), np.cos(2 * np.pi * 440 * t)
        amplitude = 2 * np.hypot(batch @ sine, batch @ cosine) / batch.shape[1]
        loudness = np.sqrt((batch ** 2).mean(axis=1))
        return np.stack([np.tanh(3 * amplitude), np.tanh(3 * loudness)], axis=1)

tagger = PianoMeter()
"""


def _known_tagger(folder=None):
    namespace: dict = {}
    exec(KNOWN_TAGGER, namespace)  # the same source the command-line test imports as a module
    return namespace["tagger"]


def expected_jazz(gains) -> np.ndarray:
    """The taggram the tagger must give, from the piano gains alone."""
    return np.tanh(3 * np.asarray(gains))


@pytest.fixture
def song(tmp_path):
    """A 12-s song with true stems: a 440-Hz piano tone whose gain steps every second, and drums (noise)."""
    folder = tmp_path / "song"
    folder.mkdir()
    t = np.arange(len(PIANO_GAINS) * RATE) / RATE
    piano = (np.repeat(PIANO_GAINS, RATE) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    drums = (0.2 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    for name, audio in (("piano", piano), ("drums", drums), ("mixture", piano + drums)):
        soundfile.write(folder / f"{name}.wav", audio, RATE, subtype="FLOAT")
    return folder / "mixture.wav"


class BandSplit:
    """A real (if simple) separator: the spectrum below and above 1 kHz. It counts its runs."""

    sample_rate = None  # any rate: it gets the tagger's

    def __init__(self):
        self.calls = 0

    def separate(self, audio, sample_rate):
        self.calls += 1
        spectrum = np.fft.rfft(audio)
        low = spectrum * (np.fft.rfftfreq(len(audio), 1 / sample_rate) < 1000)
        low_part = np.fft.irfft(low, len(audio)).astype(np.float32)
        return {"low": low_part, "high": (audio - low_part).astype(np.float32)}


# ---------------------------------------------------------------------------- choosing snippets


def test_best_snippets_are_the_labels_highest_frames_highest_first():
    taggram = np.array([[0.1, 0.9], [0.7, 0.0], [0.3, 0.2], [0.9, 0.1], [0.7, 0.5]])
    windows = best_snippets(taggram, label=0, n=3, hop_seconds=3.0)
    assert windows == [SnippetWindow(3, 9.0, 12.0, 0.9), SnippetWindow(1, 3.0, 6.0, 0.7), SnippetWindow(4, 12.0, 15.0, 0.7)]
    assert [w.frame for w in best_snippets(taggram, 1, 1, 3.0)] == [0]
    assert len(best_snippets(taggram, 0, 10, 3.0)) == 5, "no more snippets than frames"


def test_best_snippets_never_overlap_on_an_overlapping_grid():
    # frames every 1 s, windows of 3 s: a chosen frame rules out its two neighbours on each side
    column = np.array([0.1, 0.2, 0.8, 0.9, 0.85, 0.3, 0.7, 0.1, 0.6])[:, None]
    windows = best_snippets(column, 0, 3, hop_seconds=1.0, window_seconds=3.0)
    assert [w.frame for w in windows] == [3, 6, 0]
    spans = sorted((w.start, w.end) for w in windows)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_musicnns_three_second_inputs_on_its_grid_count_as_disjoint():
    hop = 187 * 256 / 16000  # 2.992 s: consecutive 3-s inputs share 8 ms
    windows = best_snippets(np.array([[0.2], [0.9], [0.8], [0.1]]), 0, 2, hop_seconds=hop, window_seconds=3.0)
    assert [w.frame for w in windows] == [1, 2]
    assert windows[0].start == pytest.approx(hop) and windows[0].end == pytest.approx(hop + 3.0)


def test_a_window_past_the_end_of_the_song_is_moved_back_to_end_there():
    windows = best_snippets(np.array([[0.1], [0.9]]), 0, 1, hop_seconds=2.992, window_seconds=3.0, total_seconds=5.99)
    assert windows[0].end == pytest.approx(5.99) and windows[0].start == pytest.approx(2.99)


@pytest.mark.parametrize(
    "taggram, label, n, message",
    [
        (np.zeros((0, 2)), 0, 1, "at least one frame"),
        (np.zeros((3, 2)), 2, 1, "out of range"),
        (np.zeros((3, 2)), 0, 0, "at least 1"),
    ],
)
def test_best_snippets_refuses_what_cannot_be_chosen(taggram, label, n, message):
    with pytest.raises(stemlime.UsageError, match=message):
        best_snippets(taggram, label, n, 1.0)


# ---------------------------------------------------------------------------- the scan


def test_the_scans_snippets_are_the_known_taggrams_top_frames_and_piano_explains_jazz(song, tmp_path):
    tagger = _known_tagger(tmp_path)
    pipeline = stemlime.Pipeline(tagger=tagger, separator="oracle")
    taggram, hop = tagging_taggram(tagger, stemlime.load_audio(song)[0])
    np.testing.assert_allclose(taggram[:, 0], expected_jazz(PIANO_GAINS), atol=0.01)

    scan = stemlime.scan(pipeline, song, label="jazz", snippets=3, samples="exhaustive", seed=0)
    assert [s.window.frame for s in scan.snippets] == TOP_FRAMES
    assert [(s.window.start, s.window.end) for s in scan.snippets] == [(3.0, 4.0), (7.0, 8.0), (5.0, 6.0)]
    np.testing.assert_allclose([s.window.probability for s in scan.snippets], taggram[TOP_FRAMES, 0])
    for snippet in scan.snippets:
        assert snippet.explanation.start == snippet.window.start and snippet.explanation.duration == 1.0
        assert list(snippet.explanation.labels) == ["jazz"]
        assert snippet.top_component("jazz") == "piano"
    assert scan.stem_counts() == {"piano": 3, "drums": 0}
    assert scan.verdict() == "piano explains jazz in 3 of 3 snippets"


def test_scan_save_writes_one_whole_folder_with_every_snippet_explained(song, tmp_path):
    scan = stemlime.scan(
        stemlime.Pipeline(tagger=_known_tagger(tmp_path), separator="oracle"), song, label="jazz", snippets=2, samples=200, seed=1
    )
    out = scan.save(tmp_path / "scan")
    data = json.loads((out / "scan.json").read_text())
    assert data["label"] == "jazz" and data["verdict"] == "piano explains jazz in 2 of 2 snippets"
    assert data["summary"] == {"piano": 2, "drums": 0}
    assert [s["frame"] for s in data["snippets"]] == TOP_FRAMES[:2]
    first = data["snippets"][0]
    assert {"start", "end", "probability", "weights", "top_component", "explanation"} <= set(first)
    assert first["top_component"] == "piano" and list(first["weights"]) == ["piano", "drums"]
    assert first["explanation"] == "snippets/01-3.00s"
    saved = json.loads((out / first["explanation"] / "explanation.json").read_text())
    assert saved["start"] == 3.0 and saved["labels"]["jazz"]["weights"] == first["weights"]
    assert (out / first["explanation"] / "index.html").is_file() and (out / first["explanation"] / "excerpt.wav").is_file()
    assert len(data["taggram"]["values"]) == len(PIANO_GAINS) and data["taggram"]["labels"] == ["jazz", "rock"]
    assert (out / "taggram.png").stat().st_size > 5000 and (out / "index.html").is_file()
    assert json.loads((out / ".stemlime-output.json").read_text())["kind"] == "scan"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "no temporary folder left"


@pytest.mark.parametrize("cache", ["off", "cache"])
def test_a_scan_separates_the_song_once_for_all_its_snippets(song, tmp_path, cache):
    separator = BandSplit()
    pipeline = stemlime.Pipeline(
        tagger=_known_tagger(tmp_path), separator=separator, cache=False if cache == "off" else StemCache(tmp_path / "stems")
    )
    scan = stemlime.scan(pipeline, song, label="jazz", snippets=4, samples="exhaustive")
    assert separator.calls == 1
    assert pipeline.cache is None if cache == "off" else pipeline.cache is not None, "the scan leaves the pipeline as it was"
    assert [s.window.frame for s in scan.snippets] == TOP_FRAMES + [1]
    assert scan.verdict() == "low explains jazz in 4 of 4 snippets"
    if cache == "cache":
        stemlime.scan(pipeline, song, label="jazz", snippets=2, samples="exhaustive")
        assert separator.calls == 1, "a second scan of the same song reuses the cached stems"


def test_a_scan_refuses_a_label_the_tagger_lacks_before_tagging(song, tmp_path):
    tagger = _known_tagger(tmp_path)
    pipeline = stemlime.Pipeline(tagger=tagger, separator=BandSplit())
    with pytest.raises(stemlime.UsageError, match="Did you mean 'jazz'"):
        stemlime.scan(pipeline, song, label="jaz")
    with pytest.raises(stemlime.UsageError, match="snippets must be"):
        stemlime.scan(pipeline, song, label="jazz", snippets=0)
    assert pipeline.separator.calls == 0


# ---------------------------------------------------------------------------- the command


def _scan_for_jazz(cli, song, tmp_path, snippets: int):
    """``stemlime scan`` of the song for jazz with the known tagger: (result, output folder)."""
    (tmp_path / "known.py").write_text(KNOWN_TAGGER)
    out = tmp_path / "scanned"
    result = cli(
        "scan",
        str(song),
        "--tagger",
        f"python,object=known:tagger,path={tmp_path}",
        "--label",
        "jazz",
        "--snippets",
        str(snippets),
        "--samples",
        "exhaustive",
        "--seed",
        "0",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    return result, out


def test_stemlime_scan_writes_the_folder_and_prints_the_verdict(cli, song, tmp_path):
    result, out = _scan_for_jazz(cli, song, tmp_path, snippets=3)
    assert "piano explains jazz in 3 of 3 snippets" in result.stdout
    assert "1.     3.00-4.00 s  jazz" in result.stdout
    assert {p.name for p in out.iterdir()} >= {"scan.json", "taggram.png", "index.html", "snippets"}
    assert len(list((out / "snippets").iterdir())) == 3


def test_a_one_snippet_scan_says_snippet_not_snippets(cli, song, tmp_path):
    result, out = _scan_for_jazz(cli, song, tmp_path, snippets=1)
    assert "the 1 snippet where jazz is highest" in result.stdout and "piano explains jazz in 1 of 1 snippet\n" in result.stdout
    assert "1 snippets" not in result.stdout and "1.00-s snippet where jazz is highest" in (out / "index.html").read_text()


def test_stemlime_scan_mistakes_are_usage_errors(cli, song, tmp_path):
    (tmp_path / "known.py").write_text(KNOWN_TAGGER)
    tagger = f"python,object=known:tagger,path={tmp_path}"
    result = cli("scan", str(song), "--tagger", tagger, "--label", "jaz", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "Did you mean 'jazz'" in result.stderr and "Traceback" not in result.stderr
    result = cli("scan", str(song), "--tagger", tagger, "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "--label" in result.stderr
    result = cli("scan", str(song), "--tagger", tagger, "--label", "jazz", "--out", str(song.parent))
    assert result.returncode == 2 and "an input of this run" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_song_shorter_than_one_tagger_input_is_one_snippet_padded_or_refused_with_what_to_do(song, tmp_path):
    audio, rate = soundfile.read(song, dtype="float32")
    short = tmp_path / "short" / "mixture.wav"
    short.parent.mkdir()
    for name in ("mixture", "piano", "drums"):  # the first half second, with its true stems
        part, _ = soundfile.read(song.parent / f"{name}.wav", dtype="float32")
        soundfile.write(short.parent / f"{name}.wav", part[: rate // 2], rate, subtype="FLOAT")
    pipeline = stemlime.Pipeline(tagger=_known_tagger(tmp_path), separator="oracle")
    with pytest.raises(stemlime.AudioError, match=r"0\.500 s long.*pad"):
        stemlime.scan(pipeline, short, label="jazz", snippets=2, samples=16)
    scan = stemlime.scan(pipeline, short, label="jazz", snippets=2, samples=16, pad=True)
    assert len(scan.snippets) == 1 and scan.snippets[0].explanation.duration == 0.5
