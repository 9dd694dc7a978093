"""Speed of the MIDI renderer, in seconds of audio per second of compute (above 1 = faster than real time).

``run()`` returns the lines to print. Measured in the same run, best of 3 after a warm-up:

- ``render_song``: a generated 30-s piece (piano, guitar, bass, drums) at 44.1 kHz, one stem per
  class, normalised and mixed; and the same with espeak-ng vocals (one espeak-ng process per sung note);
- the baseline: pretty_midi's own ``PrettyMIDI.fluidsynth()`` on the same MIDI (the mixture
  only, no stems), with the same soundfont.
"""

from __future__ import annotations

import shutil

SECONDS = 30.0
RATE = 44100


def run() -> list[str]:
    from run import best_of  # bench/run.py puts bench/ on the import path

    from stemlime_render import default_soundfont, generate, render_song

    title = f"MIDI rendering, a generated {SECONDS:.0f}-s piece at {RATE} Hz (TimGM6mb.sf2), 1 process"
    instruments = "piano,guitar,bass,drums"
    render_song(0, SECONDS, instruments, RATE)  # warm-up: imports, the soundfont in the page cache
    stems = best_of(lambda: render_song(0, SECONDS, instruments, RATE))
    midi = generate(0, SECONDS, instruments).midi
    baseline = best_of(lambda: midi.fluidsynth(fs=RATE, synthesizer=str(default_soundfont())))
    lines = [
        title,
        f"  stemlime render, 4 stems + mixture: {SECONDS / stems:7.1f} s of audio per second",
        f"  baseline, pretty_midi fluidsynth(), mixture only: {SECONDS / baseline:7.1f} s of audio per second "
        f"(stemlime x{baseline / stems:.2f} its speed)",
    ]
    if shutil.which("espeak-ng"):
        sung = instruments + ",vocals"
        render_song(0, SECONDS, sung, RATE)  # warm-up: espeak-ng's pitch table
        with_vocals = best_of(lambda: render_song(0, SECONDS, sung, RATE))
        lines.append(f"  stemlime render with espeak-ng vocals, 5 stems: {SECONDS / with_vocals:7.1f} s of audio per second")
    else:
        lines.append("  with vocals: skipped (espeak-ng is not installed)")
    return lines


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    print("\n".join(run()))
