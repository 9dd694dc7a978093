"""`make demo`: render a short song with vocals, then explain what musicnn hears in it.

The song (seed 7: piano, bass, drums and a voice sung by espeak-ng) is rendered with
`stemlime render`; `stemlime explain` then splits its mixture with spleeter 2stems (vocals,
accompaniment), cuts it into no segments (the whole excerpt), and explains the MSD musicnn
tagger's top tags, exactly as a user would on the command line. The rendered stems, the
explanation's WAV files and its page (index.html) land in demo-out/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-out"


def stemlime(*arguments: str) -> int:
    print("\n$ stemlime " + " ".join(arguments).replace(str(ROOT) + "/", ""), flush=True)
    return subprocess.run([sys.executable, "-m", "stemlime", *arguments]).returncode


def main() -> int:
    song = OUT / "song"
    status = stemlime("render", "--seed", "7", "--duration", "8", "--instruments", "piano,bass,drums,vocals", "--out", str(song))
    if status == 0:
        status = stemlime(
            "explain",
            str(song / "mixture.wav"),
            "--tagger",
            "musicnn:MSD_musicnn",
            "--separator",
            "spleeter:2stems",
            "--start",
            "1",
            "--duration",
            "6",
            "--samples",
            "1000",
            "--seed",
            "0",
            "--report",
            "--out",
            str(OUT / "explanation"),
        )
    if status != 0:
        return status
    print("\nListen to:")
    print(f"  {song.relative_to(ROOT)}/mixture.wav   (the rendered song; its true stems are beside it)")
    for path in sorted((OUT / "explanation" / "explanations").glob("*.wav")):
        print(f"  {path.relative_to(ROOT)}   (the component that raised this tag most)")
    print(f"  {(OUT / 'explanation' / 'components').relative_to(ROOT)}/*.wav   (every component as the tagger heard it)")
    print(f"\nor open {(OUT / 'explanation' / 'index.html').relative_to(ROOT)} in a browser: the same, with players and charts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
