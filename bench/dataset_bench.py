"""explain-dataset throughput: tracks per minute on the same 20 rendered tracks, in this process
(the baseline) and on a local Ray cluster with 1 and 2 workers, and each worker's peak memory.

Each run is a whole ``explain_dataset`` call into a new output folder (model loading, actor
start and the summary files included); the Ray cluster is started once before the Ray runs and
its start is printed apart. The tracks: 4-s pieces at 16 kHz rendered by stemlime-render
(seeds 0-19, piano/bass/drums or guitar/bass), explained with musicnn (MSD) over the oracle
stems, top 3 labels, 1000 samples. Peak memory is each worker process's peak resident set
(``ru_maxrss``); for the local engine that process is this one.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

TRACKS = 20
SECONDS = 4.0
RATE = 16000
SETS = ("piano,bass,drums", "guitar,bass")
TAGGER = "musicnn:MSD_musicnn,device=cpu"


def _render(folder: Path) -> None:
    from stemlime_render import render_song

    for seed in range(TRACKS):
        render_song(seed, SECONDS, SETS[seed % 2], RATE).save(folder / f"track-{seed:02d}")


def _run(data: Path, out: Path, **engine) -> tuple[float, float, int]:
    """(tracks per minute, peak MiB of the largest worker, workers) of one whole run."""
    import stemlime

    result = stemlime.Pipeline(tagger=TAGGER, separator="oracle").explain_dataset(
        data, out, top_labels=3, samples=1000, seed=0, progress=False, **engine)
    if not result.ok or len(result.explained) != TRACKS:
        raise RuntimeError(f"the bench run did not explain every track: {result.failures[:1]}")
    import json

    run = json.loads((out / "run.json").read_text())
    return run["tracks_per_minute"], max(w["peak_rss_mb"] for w in run["workers"]), len(run["workers"])


def run() -> list[str]:
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        _render(data)
        local, local_peak, _ = _run(data, Path(tmp) / "local")
        began = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20)
        start = time.perf_counter() - began
        try:
            one, one_peak, _ = _run(data, Path(tmp) / "ray1", engine="ray", workers=1)
            two, two_peak, workers = _run(data, Path(tmp) / "ray2", engine="ray", workers=2)
        finally:
            ray.shutdown()
    load = os.getloadavg()[0]
    return [
        f"explain-dataset, {TRACKS} rendered {SECONDS:.0f}-s tracks, musicnn + oracle stems, top 3 labels, 1000 samples "
        f"({os.cpu_count()} CPUs, load {load:.1f} at the end):",
        f"  local engine (baseline):  {local:6.1f} tracks/min   peak memory {local_peak:6.0f} MiB (this process)",
        f"  ray, 1 worker:            {one:6.1f} tracks/min   x{one / local:.2f}   peak memory per worker {one_peak:6.0f} MiB",
        f"  ray, 2 workers:           {two:6.1f} tracks/min   x{two / local:.2f}   peak memory per worker {two_peak:6.0f} MiB "
        f"({workers} workers)",
        f"  (starting the local Ray cluster took {start:.1f} s, not counted above)",
    ]


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    print("\n".join(run()))
