"""MUSDB18 as it ships: ``.stem.mp4`` files (mixture + drums, bass, other, vocals as AAC streams)
read through ffmpeg, by load_audio, the oracle separator and explain-dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

import stemlime
from stemlime import stemfile
from stemlime.cli import main
from stemlime.dataset import find_tracks
from stemlime.errors import AudioError, UsageError

from stemfile_support import MUSDB_STEMS, make_stem_file, musdb_wavs, need_ffmpeg

# Measured on piece1_16k coded at 256 kb/s AAC (ffmpeg's native encoder), each stream against its
# source WAV, sample-aligned (lag 0): mixture 32.5 dB, drums 24.2, bass 37.9, other 32.9, vocals
# 42.7 dB SNR; correlation >= 0.998 (drums). The decoded streams run 512 samples past the sources.
MIN_SNR_DB = 20.0
STREAMS = ("mixture", *MUSDB_STEMS)


# A toy tagger that hears only the energy between 150 and 400 Hz, per sample: in piece1_16k the
# bass holds 90 of it, vocals 21, drums 8, other 0.1. A module text, so that explain-dataset
# imports it as users' models are imported.
TAGGER_MODULE = """import numpy as np


class BassBand:
    labels = ["low"]
    sample_rate = 16000
    input_seconds = None

    def predict(self, batch):
        power = np.abs(np.fft.rfft(batch, axis=1)) ** 2
        hz = np.fft.rfftfreq(batch.shape[1], 1 / 16000)
        band = power[:, (hz >= 150) & (hz < 400)].sum(axis=1, keepdims=True) / batch.shape[1]
        return np.tanh(band / 100)


tagger = BassBand()
"""
_namespace: dict = {}
exec(TAGGER_MODULE, _namespace)
LowEnergy = _namespace["BassBand"]


@pytest.fixture(scope="module")
def stem_mp4(tmp_path_factory) -> Path:
    return make_stem_file(tmp_path_factory.mktemp("musdb") / "Piece One.stem.mp4")


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> Path:
    return musdb_wavs(tmp_path_factory.mktemp("musdb-hq") / "piece")


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    n = min(len(reference), len(decoded))
    return float(10 * np.log10((reference[:n] ** 2).sum() / ((reference[:n] - decoded[:n]) ** 2).sum()))


def test_the_file_has_five_streams_at_the_sources_rate(stem_mp4):
    info = stemfile.probe(stem_mp4)
    assert (info.streams, info.sample_rate, info.channels) == (5, 16000, 1)
    assert abs(info.duration - 4.0) < 0.1


@pytest.mark.parametrize("stream", range(5))
def test_each_stream_decodes_to_its_source(stem_mp4, wavs, stream):
    decoded, rate = stemfile.decode(stem_mp4, stream)
    reference, _ = soundfile.read(wavs / f"{STREAMS[stream]}.wav", dtype="float32")
    assert rate == 16000 and decoded.dtype == np.float32 and decoded.shape[1] == 1
    assert abs(len(decoded) - len(reference)) <= 1024  # AAC's priming is trimmed; one frame at most
    n = min(len(reference), len(decoded))
    assert snr_db(reference, decoded[:, 0]) > MIN_SNR_DB
    assert np.corrcoef(reference[:n], decoded[:n, 0])[0, 1] > 0.998


def test_load_audio_reads_the_mixture_excerpt(stem_mp4, wavs):
    audio, rate = stemlime.load_audio(stem_mp4, 16000, start=1.0, duration=2.0)
    reference, _ = soundfile.read(wavs / "mixture.wav", dtype="float32", start=16000, frames=32000)
    assert rate == 16000 and audio.shape == (32000,)
    assert snr_db(reference, audio) > MIN_SNR_DB


def test_the_oracle_reads_musdb18_names_and_finds_the_stem_the_tagger_hears(stem_mp4):
    pipeline = stemlime.Pipeline(tagger=LowEnergy(), separator="oracle")
    explanation = pipeline.explain(stem_mp4, samples="exhaustive", seed=0)
    weights = explanation.weights("low")
    assert set(weights) == set(MUSDB_STEMS)
    assert max(weights, key=weights.get) == "bass"


def test_a_stem_file_explains_as_its_decoded_stems_given_as_wav_files(stem_mp4, tmp_path):
    folder = tmp_path / "decoded"
    folder.mkdir()
    for stream, name in enumerate(STREAMS):
        audio, rate = stemfile.decode(stem_mp4, stream)
        soundfile.write(folder / f"{name}.wav", audio, rate, subtype="FLOAT")
    pipeline = stemlime.Pipeline(tagger=LowEnergy(), separator="oracle")
    from_mp4 = pipeline.explain(stem_mp4, samples="exhaustive", seed=0).weights("low")
    from_wav = pipeline.explain(folder / "mixture.wav", samples="exhaustive", seed=0).weights("low")
    assert from_mp4.keys() == from_wav.keys()
    for name in from_mp4:
        assert abs(from_mp4[name] - from_wav[name]) < 1e-4, (name, from_mp4, from_wav)


def test_the_oracle_refuses_a_stem_file_without_five_streams(tmp_path):
    three = make_stem_file(tmp_path / "three.stem.mp4", streams=3)
    pipeline = stemlime.Pipeline(tagger=LowEnergy(), separator="oracle")
    with pytest.raises(UsageError, match=r"has 3 audio streams.*MUSDB18 .stem.mp4 has 5.*dir=FOLDER"):
        pipeline.explain(three, samples=4, seed=0)


def test_the_oracle_never_writes_into_the_folder_of_its_stem_file(stem_mp4, tmp_path):
    song = Path(shutil.copy(stem_mp4, tmp_path / "song.stem.mp4"))
    pipeline = stemlime.Pipeline(tagger=LowEnergy(), separator="oracle")
    assert pipeline.separator.inputs(song) == [song]
    with pytest.raises(UsageError, match=r"holds .*song\.stem\.mp4, an input of this run"):
        pipeline.explain(song, duration=2.0, samples=4, out=tmp_path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.stem.mp4"]


def test_missing_ffmpeg_says_what_to_install(stem_mp4, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AudioError, match=r"needs the 'ffprobe' program.*apt-get install ffmpeg"):
        stemlime.load_audio(stem_mp4)


def test_missing_ffmpeg_on_the_command_line_exits_with_status_1_and_says_what_to_install(stem_mp4, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    status = main(["separate", str(stem_mp4), "--separator", "oracle", "--out", str(tmp_path / "out")])
    assert status == 1 and "apt-get install ffmpeg" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_broken_stem_file_says_so(tmp_path):
    need_ffmpeg()
    broken = tmp_path / "broken.stem.mp4"
    broken.write_bytes(b"not an mp4 at all\n" * 10)
    with pytest.raises(AudioError, match=r"cannot read .*broken\.stem\.mp4 as a stem file.*complete \.stem\.mp4"):
        stemlime.load_audio(broken)


def test_a_folder_of_stem_files_and_musdb18_hq_folders_are_tracks(stem_mp4, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(stem_mp4, data / "Song A.stem.mp4")
    musdb_wavs(data / "Song B")
    tracks = find_tracks(data)
    assert [(t.name, t.audio.name) for t in tracks] == [("Song A", "Song A.stem.mp4"), ("Song B", "mixture.wav")]


def test_explain_dataset_runs_on_stem_files_with_a_genre_table(stem_mp4, tmp_path, capsys):
    data = tmp_path / "musdb18"
    data.mkdir()
    for name in ("Song A", "Song B", "Song C"):
        shutil.copy(stem_mp4, data / f"{name}.stem.mp4")
    (tmp_path / "genres.csv").write_text("track,genre\nSong A,Pop/Rock\nSong B,Jazz\nSong C,Pop/Rock\n")
    models = tmp_path / "models"
    models.mkdir()
    (models / "low_energy_tagger.py").write_text(TAGGER_MODULE)
    out = tmp_path / "out"
    status = main(
        [
            "explain-dataset",
            str(data),
            "--tagger",
            f"python,object=low_energy_tagger:tagger,path={models}",
            "--separator",
            "oracle",
            "--samples",
            "exhaustive",
            "--metadata",
            str(tmp_path / "genres.csv"),
            "--report",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert status == 0, capsys.readouterr().err
    run = json.loads((out / "run.json").read_text())
    assert run["tracks"]["explained"] == 3 and run["tracks"]["failed"] == 0
    global_explanation = json.loads((out / "global.json").read_text())
    genres = global_explanation["metadata"]["genre"]
    assert genres.keys() == {"Pop/Rock", "Jazz"}
    assert (out / "metadata-genre.png").is_file()
    page = (out / "index.html").read_text()
    assert "metadata-genre.png" in page and "genre" in page
    assert sorted(p.name for p in data.iterdir()) == ["Song A.stem.mp4", "Song B.stem.mp4", "Song C.stem.mp4"]
