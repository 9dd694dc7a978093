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

    result = stemlime.explain_dataset(
        stemlime.Pipeline(tagger=TAGGER, separator="oracle"), data, out, top_labels=3, samples=1000, seed=0, progress=False, **engine
    )
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
    from table import Row

    what = f"explain-dataset, {TRACKS} rendered {SECONDS:.0f}-s tracks, musicnn + oracle, top 3 labels, 1000 samples"
    local_what = f"local engine, peak {local_peak:.0f} MiB"
    return [
        Row(
            f"{what}: ray, 1 worker",
            one,
            unit="tracks/min",
            higher_is_better=True,
            baseline=local,
            baseline_what=local_what,
            note=f"peak memory per worker {one_peak:.0f} MiB; the local Ray cluster took {start:.1f} s to start (not counted)",
        ),
        Row(
            f"{what}: ray, {workers} workers",
            two,
            unit="tracks/min",
            higher_is_better=True,
            baseline=local,
            baseline_what=local_what,
            note=f"peak memory per worker {two_peak:.0f} MiB",
        ),
    ]


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from table import render

    print(render(run()))
