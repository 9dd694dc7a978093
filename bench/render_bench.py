"""Speed of the MIDI renderer, in seconds of audio per second of compute (above 1 = faster than real time).

``run()`` returns the rows of ``make bench``'s table (:mod:`table`), in seconds of compute for
the piece. Measured in the same run, best of 3 after a warm-up:

- ``render_song``: a generated 30-s piece (piano, guitar, bass, drums) at 44.1 kHz, one stem per
  class, normalised and mixed; and the same with espeak-ng vocals (one espeak-ng process per sung note);
- the baseline: pretty_midi's own ``PrettyMIDI.fluidsynth()`` on the same MIDI (the mixture
  only, no stems), with the same soundfont.
"""

from __future__ import annotations

import shutil

SECONDS = 30.0
RATE = 44100


def run() -> list[Row]:  # noqa: F821 (Row is imported below, once bench/ is on the path)
    from table import Row, best_timed

    from stemlime_render import default_soundfont, generate, render_song

    title = f"MIDI render, a generated {SECONDS:.0f}-s piece at {RATE} Hz (TimGM6mb.sf2), 1 process"
    instruments = "piano,guitar,bass,drums"
    render_song(0, SECONDS, instruments, RATE)  # warm-up: imports, the soundfont in the page cache
    stems, stems_cpu, _ = best_timed(lambda: render_song(0, SECONDS, instruments, RATE))
    midi = generate(0, SECONDS, instruments).midi
    baseline, _, _ = best_timed(lambda: midi.fluidsynth(fs=RATE, synthesizer=str(default_soundfont())))
    rows = [
        Row(
            title + ": 4 stems + mixture",
            stems,
            cpu=stems_cpu,
            baseline=baseline,
            baseline_what="pretty_midi fluidsynth(), mixture only",
            note=f"{SECONDS / stems:.1f} s of audio per second",
        )
    ]
    if shutil.which("espeak-ng"):
        sung = instruments + ",vocals"
        render_song(0, SECONDS, sung, RATE)  # warm-up: espeak-ng's pitch table
        with_vocals, vocals_cpu, _ = best_timed(lambda: render_song(0, SECONDS, sung, RATE))
        rows.append(
            Row(
                title + ": 5 stems with espeak-ng vocals",
                with_vocals,
                cpu=vocals_cpu,
                note=f"{SECONDS / with_vocals:.1f} s of audio per second",
            )
        )
    else:
        rows.append(Row(title + ": with vocals", None, text="skipped", note="espeak-ng is not installed"))
    return rows


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from table import render

    print(render(run()))
