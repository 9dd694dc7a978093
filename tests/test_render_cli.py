"""The render commands as users meet them: plugin commands through the stemlime_commands hook,
bad input with one clear message and the documented exit status, and resumable datasets."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stemlime.registry
from stemlime import StemlimeError, UsageError
from stemlime.cli import main
from stemlime.registry import Command, Registry, plugin_module

from readme import code_block_after, doc

STEMLIME = [sys.executable, "-m", "stemlime"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(STEMLIME + list(args), capture_output=True, text=True, cwd=cwd)


# ----------------------------------------------------------------------------- the hook


def _hello_plugin(calls: list):
    def add_arguments(parser):
        parser.add_argument("--times", type=int, default=1)

    def hello(args):
        if args.times < 1:
            raise UsageError("--times must be positive")
        if args.times > 3:
            raise StemlimeError("too many hellos")
        calls.append(args.times)

    def stemlime_commands(register):
        register(Command(name="hello", help="say hello", add_arguments=add_arguments, run=hello))

    return plugin_module("hello_plugin", stemlime_commands=stemlime_commands)


def test_a_plugin_command_runs_with_the_core_error_handling(monkeypatch, capsys):
    calls = []
    registry = Registry(plugins=[_hello_plugin(calls)], entry_points=False)
    monkeypatch.setattr(stemlime.registry, "_default", registry)
    assert registry.describe_commands() == [{"name": "hello", "help": "say hello", "package": "hello_plugin"}]
    assert main(["hello", "--times", "2"]) == 0 and calls == [2]
    assert main(["hello", "--times", "0"]) == 2 and "--times must be positive" in capsys.readouterr().err
    assert main(["hello", "--times", "5"]) == 1 and "too many hellos" in capsys.readouterr().err


def test_render_without_its_package_says_how_to_install_plugins(monkeypatch, capsys):
    # the core names no plugin's command: a missing one is answered like any unknown command
    monkeypatch.setattr(stemlime.registry, "_default", Registry(entry_points=False))
    assert main(["render", "--seed", "1", "--out", "x"]) == 2
    error = capsys.readouterr().err
    assert "'stemlime render' is not a command of stemlime or of an installed plugin" in error
    assert "stemlime plugins" in error and "make install" in error and "pip install ./plugins/" in error
    assert "invalid choice" not in error


def test_the_installed_render_commands_are_registered_by_their_package():
    commands = {c["name"]: c["package"] for c in Registry().describe_commands()}
    assert commands["render"] == commands["render-dataset"] == "stemlime-render"


# ----------------------------------------------------------------------------- bad input


def _tiny_soundfont(path: Path) -> Path:
    """A valid SoundFont 2 with one preset, a sine 'piano' (bank 0, program 0), and no drum kit."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")

    def riff_list(kind: bytes, *chunks: bytes) -> bytes:
        return chunk(b"LIST", kind + b"".join(chunks))

    name = lambda text: text.encode().ljust(20, b"\0")
    period = 100  # samples per cycle at 44100 Hz: 441 Hz, close to A4 (key 69)
    sine = (np.sin(2 * np.pi * np.arange(period * 50) / period) * 20000).astype("<i2")
    samples = sine.tobytes() + b"\0" * 92  # 46 zero samples must follow every sample
    info = riff_list(b"INFO", chunk(b"ifil", struct.pack("<HH", 2, 1)), chunk(b"isng", b"EMU8000\0"), chunk(b"INAM", b"tiny\0\0"))
    pdta = riff_list(
        b"pdta",
        chunk(
            b"phdr", name("Tiny Piano") + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0) + name("EOP") + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0)
        ),
        chunk(b"pbag", struct.pack("<HH", 0, 0) + struct.pack("<HH", 1, 0)),
        chunk(b"pmod", b"\0" * 10),
        chunk(b"pgen", struct.pack("<HH", 41, 0) + struct.pack("<HH", 0, 0)),  # 41: instrument 0
        chunk(b"inst", name("sine") + struct.pack("<H", 0) + name("EOI") + struct.pack("<H", 1)),
        chunk(b"ibag", struct.pack("<HH", 0, 0) + struct.pack("<HH", 2, 0)),
        chunk(b"imod", b"\0" * 10),
        chunk(b"igen", struct.pack("<HH", 54, 1) + struct.pack("<HH", 53, 0) + struct.pack("<HH", 0, 0)),  # loop; sample 0
        chunk(
            b"shdr",
            name("sine")
            + struct.pack("<IIIIIBbHH", 0, len(sine), period * 10, period * 40, 44100, 69, 0, 0, 1)
            + name("EOS")
            + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0),
        ),
    )
    body = b"sfbk" + info + riff_list(b"sdta", chunk(b"smpl", samples)) + pdta
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_a_soundfont_without_an_instrument_class_is_named_in_the_error(tmp_path, capsys):
    soundfont = _tiny_soundfont(tmp_path / "tiny.sf2")
    options = ["--duration", "1", "--sample-rate", "16000", "--soundfont", str(soundfont), "--out", str(tmp_path / "out")]
    assert main(["render", "--instruments", "piano", *options]) == 0  # the tiny soundfont is valid: its piano renders
    capsys.readouterr()
    for instruments, missing in (("piano,guitar", "(guitar)"), ("piano,drums", "a drum kit")):
        assert main(["render", "--instruments", instruments, *options]) == 1
        error = capsys.readouterr().err
        assert "tiny.sf2 has no preset for" in error and missing in error and "fluid-soundfont-gm" in error


@pytest.mark.parametrize(
    "arguments, status, message",
    [
        (["--duration", "0"], 2, "duration must be a positive number of seconds"),
        (["--duration", "-3"], 2, "duration must be a positive number of seconds"),
        (["--instruments", "piano,gitar"], 2, "unknown instrument class 'gitar' (did you mean 'guitar'?)"),
        (["--soundfont", "no/such.sf2"], 1, "soundfont no/such.sf2 does not exist"),
        (["--sample-rate", "1000"], 2, "FluidSynth renders at 8000 to 96000 Hz"),
    ],
)
def test_bad_render_options_get_one_clear_message(tmp_path, capsys, arguments, status, message):
    assert main(["render", *arguments, "--out", str(tmp_path / "out")]) == status
    assert message in capsys.readouterr().err


def test_a_corrupt_midi_file_is_refused_with_one_clear_message(cli, tmp_path):
    corrupt = tmp_path / "song.mid"
    corrupt.write_bytes(b"MThd\0\0\0\x06\0\x01\0\x02\x01\xe0MTrk\0\0\xff\xff\x90")  # a header, then a truncated track
    result = cli("render", str(corrupt), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"cannot read {corrupt} as a MIDI file" in result.stderr


def test_missing_espeak_is_named_with_its_debian_package(tmp_path):
    result = subprocess.run(
        STEMLIME + ["render", "--instruments", "bass,vocals", "--duration", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent), "HOME": str(Path.home())},
    )
    assert result.returncode == 1 and "sudo apt-get install espeak-ng" in result.stderr


# ----------------------------------------------------------------------------- a MIDI file and a dataset


def test_a_midi_file_renders_one_stem_per_track(cli, tmp_path):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    for program, name in ((0, "Left hand"), (1, "Right hand")):
        instrument = pretty_midi.Instrument(program, name=name)
        instrument.notes.append(pretty_midi.Note(90, 60 + program * 12, 0.1, 0.6))
        midi.instruments.append(instrument)
    midi.write(str(tmp_path / "two.mid"))
    result = cli("render", str(tmp_path / "two.mid"), "--stems", "track", "--sample-rate", "16000", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "00_left_hand.wav",
        "01_right_hand.wav",
        "metadata.json",
        "mixture.wav",
    ]
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["duration"] == pytest.approx(1.6)  # last note + 1 s


def test_a_dataset_renders_in_parallel_and_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "data"
    arguments = [
        "render-dataset",
        "--count",
        "3",
        "--duration",
        "1",
        "--sample-rate",
        "8000",
        "--workers",
        "2",
        "--instruments",
        "guitar,drums",
        "--instruments",
        "piano,bass",
        "--seed",
        "40",
        "--out",
        str(out),
    ]
    first = run(*arguments)
    assert first.returncode == 0, first.stderr
    assert "rendering" in first.stderr and "3/3" in first.stderr  # the progress bar
    pieces = sorted(out.glob("piece-*"))
    assert [p.name for p in pieces] == ["piece-00000", "piece-00001", "piece-00002"]
    for piece in pieces:  # drums only ever play with guitar
        stems = {p.stem for p in piece.glob("*.wav")} - {"mixture"}
        assert stems in ({"guitar", "drums"}, {"piano", "bass"})
        assert json.loads((piece / "metadata.json").read_text())["arrangement"]["seed"] == 40 + int(piece.name[-1])
    kept = (pieces[0] / "mixture.wav").stat().st_mtime_ns
    (pieces[2] / "metadata.json").unlink()  # as if interrupted before piece 2 was complete
    again = run(*arguments, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert (pieces[0] / "mixture.wav").stat().st_mtime_ns == kept and (pieces[2] / "metadata.json").is_file()
    changed = run(*arguments[:-2], "--sample-rate", "16000", "--out", str(out))
    assert changed.returncode == 2 and "other settings" in changed.stderr and "sample_rate" in changed.stderr


def test_the_readme_render_commands_work(cli, tmp_path):
    block = code_block_after("### render", "bash", readme=doc("how-to/plugins.md"))
    lines = [line.split("#")[0].strip() for line in block.splitlines() if line.startswith("stemlime render ")]
    assert lines
    from stemlime_render import generate

    generate(3, 2.0, "piano,bass").midi.write(str(tmp_path / "song.mid"))  # the MIDI file the README renders
    for line in lines:
        result = cli(*line.split()[1:], cwd=tmp_path)
        assert result.returncode == 0, (line, result.stderr)
    assert (tmp_path / "song" / "vocals.wav").is_file() and (tmp_path / "song" / "mixture.wav").is_file()
    assert sorted(p.name for p in (tmp_path / "song-stems").glob("*.wav")) == ["00_piano.wav", "01_bass.wav", "mixture.wav"]
