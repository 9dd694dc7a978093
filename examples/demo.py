"""`make demo`: explain what musicnn hears in a real piece with known stems.

The piece (tests/data/piece1_16k: piano, guitar, bass, drums and a synthetic voice) is explained
with the MSD musicnn tagger and its five true stems (oracle separation), exactly as the command
line does it. The WAV files of the explanation land in demo-out/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo-out"


def main() -> int:
    command = [
        sys.executable, "-m", "stemlime", "explain", str(ROOT / "tests/data/piece1_16k/mixture.wav"),
        "--tagger", "musicnn:MSD_musicnn", "--separator", "oracle",
        "--start", "1.0", "--duration", "3.0", "--samples", "1000", "--seed", "0", "--out", str(OUT),
    ]
    print("$ stemlime " + " ".join(command[3:]).replace(str(ROOT) + "/", ""), flush=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        return result.returncode
    print("\nListen to:")
    for path in sorted((OUT / "explanations").glob("*.wav")):
        print(f"  {path.relative_to(ROOT)}   (the component that raised this tag most)")
    print(f"  {(OUT / 'components').relative_to(ROOT)}/*.wav   (every component as the tagger heard it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
