"""Rendering MIDI into stems: exact mixtures, determinism, silence where no notes play,
and an oracle-separation explanation of a rendered piece."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile

import stemlime
from stemlime_render import Synthesizer, default_soundfont, generate, render_midi, render_song

RATE = 16000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make install)")


def test_the_default_soundfont_is_the_one_pretty_midi_carries_and_fluidsynth_loads_it():
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2" and path.parent == Path(pretty_midi.__file__).parent
    with Synthesizer(sample_rate=RATE) as synthesizer:  # pyfluidsynth found libfluidsynth
        assert synthesizer.preset_name(0, 0) and synthesizer.preset_name(128, 0)  # a piano and a drum kit


@needs_espeak
def test_stems_sum_to_the_mixture_and_the_same_seed_gives_the_same_audio():
    classes = "piano,guitar,bass,drums,strings,vocals"
    first = render_song(seed=5, duration=4.0, instruments=classes, sample_rate=RATE)
    again = render_song(seed=5, duration=4.0, instruments=classes, sample_rate=RATE)
    other = render_song(seed=6, duration=4.0, instruments=classes, sample_rate=RATE)
    assert list(first.stems) == classes.split(",")
    assert len(first.mixture) == 4 * RATE and first.mixture.dtype == np.float32
    total = np.sum([audio.astype(np.float64) for audio in first.stems.values()], axis=0)
    assert np.abs(total - first.mixture).max() <= 1e-6
    assert 0.5 < np.abs(first.mixture).max() <= 0.9 + 1e-6  # normalised to a -1 dBFS peak
    for name in first.stems:
        assert np.array_equal(first.stems[name], again.stems[name]), name
        assert not np.array_equal(first.stems[name], other.stems[name]), name
    assert first.metadata == again.metadata


def _notes(instrument) -> list[tuple[float, float]]:
    return [(note.start, note.end) for note in instrument.notes]


@needs_espeak
def test_each_stem_sounds_where_its_notes_are_and_is_silent_elsewhere():
    midi = pretty_midi.PrettyMIDI()
    parts = {
        "piano": (pretty_midi.Instrument(0), [(60, 0.2, 0.7), (64, 0.2, 0.7)]),
        "bass": (pretty_midi.Instrument(33), [(40, 1.5, 2.0)]),
        "drums": (pretty_midi.Instrument(0, is_drum=True), [(38, 3.0, 3.1)]),
        "vocals": (pretty_midi.Instrument(53), [(57, 0.5, 1.0), (60, 2.0, 2.6)]),
    }
    for instrument, notes in parts.values():
        instrument.notes = [pretty_midi.Note(100, key, start, end) for key, start, end in notes]
        midi.instruments.append(instrument)
    midi.lyrics = [pretty_midi.Lyric("hello", 0.5), pretty_midi.Lyric("moon", 2.0)]
    rendering = render_midi(midi, sample_rate=RATE, duration=4.5)
    assert set(rendering.stems) == set(parts)
    for name, (instrument, _) in parts.items():
        audio = rendering.stems[name]
        spans = _notes(instrument)
        for start, end in spans:  # sounding during every note
            inside = audio[int(start * RATE) : int(end * RATE)]
            assert np.sqrt(np.mean(inside**2)) > 1e-3, (name, start)
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        assert not audio[: int(first * RATE)].any(), name  # exactly silent before the first note
        release = 0.05 if name == "vocals" else 1.0  # the sung word is cut at the note's end; instruments ring on
        assert np.abs(audio[int((last + release) * RATE) :]).max() < 1e-4, name
    vocals = rendering.stems["vocals"]
    assert not vocals[int(1.0 * RATE) + 1 : int(2.0 * RATE)].any()  # exactly silent between the sung notes
    described = rendering.metadata["stems"]
    assert described["vocals"]["instruments"][0]["lyrics"] == ["hello", "moon"]
    assert described["bass"]["notes"] == [[1.5, 2.0, 40, 100]]
    assert described["piano"]["instruments"][0]["synth"].startswith("fluidsynth")


def test_rendering_is_the_same_in_another_process_and_from_the_command_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stemlime",
            "render",
            "--seed",
            "11",
            "--duration",
            "2",
            "--instruments",
            "piano,guitar,bass,drums,strings",
            "--sample-rate",
            str(RATE),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "s of audio per second" in result.stdout
    here = render_song(seed=11, duration=2.0, instruments="piano,guitar,bass,drums,strings", sample_rate=RATE)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{n}.wav" for n in here.stems] + ["mixture.wav", "metadata.json", ".stemlime-output.json"]
    )
    for name in [*here.stems, "mixture"]:
        audio, rate = soundfile.read(tmp_path / f"{name}.wav", dtype="float32")
        expected = here.mixture if name == "mixture" else here.stems[name]
        assert rate == RATE and np.array_equal(audio, expected), name
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["arrangement"]["seed"] == 11 and set(metadata["stems"]) == set(here.stems)
    assert {"gain_db", "rms_db", "peak", "notes", "instruments"} <= set(metadata["stems"]["bass"])


def test_the_generator_draws_programs_from_the_gm_families_and_plays_only_the_chosen_classes():
    for seed in range(6):
        arrangement = generate(seed, 6.0, "guitar,bass,drums")
        programs = {i.name: (i.program, i.is_drum) for i in arrangement.midi.instruments}
        assert set(programs) == {"guitar", "bass", "drums"}
        assert 24 <= programs["guitar"][0] <= 31 and 32 <= programs["bass"][0] <= 39 and programs["drums"][1]
        assert all(note.end <= 6.0 for i in arrangement.midi.instruments for note in i.notes)
        assert 80 <= arrangement.tempo <= 140


def _digest(arrangement) -> str:
    import hashlib

    parts = [[i.name, i.program, i.is_drum, [[n.start, n.end, n.pitch, n.velocity] for n in i.notes]] for i in arrangement.midi.instruments]
    lyrics = [[lyric.text, lyric.time] for lyric in arrangement.midi.lyrics]
    return hashlib.sha256(json.dumps([arrangement.to_dict(), parts, lyrics]).encode()).hexdigest()[:16]


# Recorded with the generator as it was before distinct_parts existed: rendered datasets, the
# Cerberus recipe's data and documented numbers were made with these arrangements.
EARLIER_ARRANGEMENTS = {
    (0, 10.0, "piano,guitar,bass,drums"): "667a5a194fec44cd",
    (900000, 10.0, "piano,guitar,bass,drums"): "0a04013d3cb41f27",
    (3, 8.0, "piano,bass,drums,vocals"): "b820caf85ee91891",
    (11, 4.0, "guitar,strings,bass"): "c6590832755205b3",
    (5, 6.0, "piano"): "cc8bb81ed7286d32",
}


def test_the_default_generator_writes_the_arrangements_it_always_wrote():
    for (seed, duration, instruments), digest in EARLIER_ARRANGEMENTS.items():
        assert _digest(generate(seed, duration, instruments)) == digest, (seed, instruments)
        assert _digest(generate(seed, duration, instruments, distinct_parts=False)) == digest
        assert "distinct_parts" not in generate(seed, duration, instruments).to_dict()


def test_distinct_parts_give_piano_guitar_and_bass_their_own_registers_and_roles():
    def keys(arrangement, name):
        return np.array([n.pitch for i in arrangement.midi.instruments if i.name == name for n in i.notes])

    leads = set()
    for seed in range(8):
        shared, distinct = generate(seed, 8.0), generate(seed, 8.0, distinct_parts=True)
        assert _digest(distinct) == _digest(generate(seed, 8.0, distinct_parts=True)) != _digest(shared)  # seeded
        assert distinct.to_dict()["distinct_parts"] is True
        piano, guitar, bass = (keys(distinct, name) for name in ("piano", "guitar", "bass"))
        assert 28 <= bass.min() <= 39 and bass.max() <= 52  # roots in E1..D#2, octaves and fifths above them
        lead = "piano" if len(piano) < len(guitar) else "guitar"  # the melody: fewer notes than chords
        leads.add(lead)
        melody, comping = (piano, guitar) if lead == "piano" else (guitar, piano)
        assert np.median(melody) >= np.median(comping) + 7, seed  # above the comping part, which by default shares its keys
        assert np.median(bass) < np.median(comping) - 7
    assert leads == {"piano", "guitar"}  # either plays the melody


def test_distinct_parts_from_the_command_line_and_in_a_dataset(tmp_path, capsys):
    from stemlime.cli import main

    assert (
        main(["render", "--seed", "4", "--duration", "2", "--sample-rate", "16000", "--distinct-parts", "--out", str(tmp_path / "one")])
        == 0
    )
    metadata = json.loads((tmp_path / "one" / "metadata.json").read_text())
    assert metadata["arrangement"]["distinct_parts"] is True
    expected = render_song(4, 2.0, sample_rate=16000, distinct_parts=True)
    assert np.array_equal(soundfile.read(tmp_path / "one" / "mixture.wav", dtype="float32")[0], expected.mixture)
    assert (
        main(
            [
                "render-dataset",
                "--count",
                "1",
                "--seed",
                "4",
                "--duration",
                "2",
                "--sample-rate",
                "16000",
                "--distinct-parts",
                "--workers",
                "1",
                "--no-progress",
                "--out",
                str(tmp_path / "set"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "set" / "dataset.json").read_text())["distinct_parts"] is True
    pretty_midi.PrettyMIDI().write(str(tmp_path / "song.mid"))
    capsys.readouterr()
    assert main(["render", str(tmp_path / "song.mid"), "--distinct-parts", "--out", str(tmp_path / "two")]) == 2
    assert "--distinct-parts shapes generated pieces" in capsys.readouterr().err and not (tmp_path / "two").exists()


class Loudness:
    """A tiny real model: the RMS level of its input."""

    labels = ["loud"]
    sample_rate = RATE
    input_seconds = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.sqrt((batch.astype(np.float64) ** 2).mean(axis=1, keepdims=True))


@needs_espeak
def test_a_rendered_piece_is_explained_with_its_true_stems(tmp_path):
    rendering = render_song(seed=2, duration=4.0, instruments="piano,bass,drums,vocals", sample_rate=RATE)
    folder = rendering.save(tmp_path / "song")
    explanation = stemlime.Pipeline(tagger=Loudness(), separator="oracle").explain(
        folder / "mixture.wav", samples="exhaustive", seed=0, progress=False
    )
    weights = explanation.weights("loud")
    assert set(weights) == {"piano", "bass", "drums", "vocals"} and explanation.distinct_evaluations == 16
    loudest = max(rendering.stems, key=lambda name: np.mean(rendering.stems[name].astype(np.float64) ** 2))
    assert max(weights, key=weights.get) == loudest
    assert all(weight > 0 for weight in weights.values())  # every stem adds energy
    out = explanation.save(tmp_path / "explained")
    assert (out / "explanations" / "loud.wav").is_file()
