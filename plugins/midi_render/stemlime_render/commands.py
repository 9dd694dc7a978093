"""The ``stemlime render`` and ``stemlime render-dataset`` commands (registered by plugin.py).

Arguments are declared here without importing the renderer; running a command imports it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from stemlime.plugin import plural

DEFAULT_INSTRUMENTS = "piano,guitar,bass,drums"


def _add_sound_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample-rate", type=int, default=44100, help="Hz (default 44100)")
    parser.add_argument("--soundfont", help="a General MIDI .sf2 file (default: TimGM6mb.sf2 from pretty_midi)")
    parser.add_argument(
        "--vocals",
        choices=["espeak", "soundfont"],
        default="espeak",
        help="sing the vocals with espeak-ng (default) or play the soundfont's voice patches",
    )
    parser.add_argument("--voice", default="en-us+f3", help="espeak-ng voice (default en-us+f3; see espeak-ng --voices)")


def _add_arrangement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--distinct-parts",
        action="store_true",
        help="generated pieces: each pitched part its own role, register and rhythm, as in real arrangements "
        "(default: piano and guitar comp the same chords in one register, as earlier versions did)",
    )


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("midi", nargs="?", help="a MIDI file to render (default: generate a piece from --seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated piece (default 0)")
    parser.add_argument("--duration", type=float, help="seconds (default 10 for a generated piece, a MIDI file's length + 1 s)")
    parser.add_argument(
        "--instruments",
        default=DEFAULT_INSTRUMENTS,
        help=f"classes of a generated piece: piano, guitar, bass, drums, strings, vocals (default {DEFAULT_INSTRUMENTS})",
    )
    parser.add_argument(
        "--stems", choices=["class", "track"], default="class", help="a MIDI file's stems: one per instrument class (default) or per track"
    )
    _add_arrangement_options(parser)
    _add_sound_options(parser)
    parser.add_argument(
        "--out", required=True, help="output folder: <stem>.wav, mixture.wav, metadata.json (replaced as a whole by each run)"
    )
    parser.add_argument("--force", action="store_true", help="replace --out even if it is a folder stemlime did not write")


def run_render(args: argparse.Namespace) -> None:
    from .render import render_midi, render_song

    from stemlime.plugin import check_destination

    started = time.perf_counter()
    inputs = [args.midi, args.soundfont]
    check_destination(args.out, inputs, force=args.force)  # before the render: a refusal costs nothing
    if args.midi and args.distinct_parts:
        from stemlime.plugin import UsageError

        raise UsageError("--distinct-parts shapes generated pieces; a MIDI file is rendered as it is written (leave out one of them)")
    if args.midi:
        rendering = render_midi(args.midi, args.sample_rate, args.duration, args.soundfont, args.stems, args.vocals, args.voice)
        what = args.midi
    else:
        rendering = render_song(
            args.seed,
            10.0 if args.duration is None else args.duration,
            args.instruments,
            args.sample_rate,
            args.soundfont,
            args.vocals,
            args.voice,
            args.distinct_parts,
        )
        piece = rendering.metadata["arrangement"]
        what = f"seed {args.seed}: {piece['tempo']:.0f} BPM, {piece['key']} {piece['mode']}, {' '.join(piece['progression'])}"
    seconds = time.perf_counter() - started
    out = rendering.save(args.out, force=args.force, inputs=inputs)
    print(
        f"rendered {rendering.duration:.2f} s at {rendering.sample_rate} Hz ({what}) in {seconds:.2f} s "
        f"({rendering.duration / seconds:.3g} s of audio per second)"
    )
    for name, stem in rendering.metadata["stems"].items():
        sources = ", ".join(i["synth"] for i in stem["instruments"])
        print(f"  {Path(out) / (name + '.wav')}  {stem['rms_db']:6.1f} dB RMS  {len(stem['notes'])} notes  ({sources})")
    print(f"  {Path(out) / 'mixture.wav'}  the exact sum of the stems; {Path(out) / 'metadata.json'}")


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, required=True, help="number of pieces")
    parser.add_argument("--seed", type=int, default=0, help="piece i is rendered with seed + i (default 0)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per piece (default 10)")
    parser.add_argument(
        "--instruments",
        action="append",
        metavar="CLASSES",
        help=f"an instrument set, e.g. guitar,drums,bass; repeat for several: each piece plays one, "
        f"drawn with its seed (default {DEFAULT_INSTRUMENTS})",
    )
    _add_arrangement_options(parser)
    _add_sound_options(parser)
    parser.add_argument("--workers", type=int, help="parallel processes (default: one per CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", required=True, help="output folder: DIR/piece-00000/... and DIR/dataset.json")


def run_dataset(args: argparse.Namespace) -> None:
    from .dataset import render_dataset

    started = time.perf_counter()
    folders = render_dataset(
        args.out,
        args.count,
        args.seed,
        args.duration,
        args.instruments or [DEFAULT_INSTRUMENTS],
        args.sample_rate,
        args.soundfont,
        args.vocals,
        args.voice,
        args.workers,
        not args.no_progress,
        args.distinct_parts,
    )
    print(f"{plural(len(folders), 'piece')} in {args.out} ({time.perf_counter() - started:.1f} s)")
