"""``explain_dataset``: every track of a dataset explained, resumably, then aggregated.

OUT holds, when a run is done::

    OUT/.stemlime-output.json      marker, kind "dataset"
    OUT/tracks/<track>/            one track's result, as 'stemlime explain' writes it (written whole);
                                   with snippets, as 'stemlime scan' writes it (scan.json, snippets/)
    OUT/failures.jsonl             one JSON line per failed track: track, error (type), message
    OUT/global.json, global.csv    the global explanation (stemlime.dataset.aggregate)
    OUT/global.png                 labels x stems heatmap of the mean weight
    OUT/metadata-<column>.csv/.png with metadata: top predicted tag against the column's values
    OUT/run.json                   pipeline, settings and their hash, versions, counts, wall time, workers,
                                   and where each track's result is (``results``: track -> tracks/<folder>)
    OUT/index.html                 with ``report``: the page of the run (stemlime.report, kind "dataset")

OUT is filled, not replaced (see ``stemlime.output.ResumableFolder``): each track's folder is
swapped in whole by the task that computed it, the summary files are each replaced atomically
at the end of a run, and a rerun skips every track whose result carries the run's settings hash
(pipeline specs, explain options, the snippets and versions). Tracks without one (new, failed
before, made with other settings) are explained again.

Snippets (``snippets="best:N"``, ``--snippets best:N``): instead of one excerpt, each track's
taggram picks the N tagger windows where its label is highest (``stemlime.scan.best_snippets``)
and each is explained for that label, as ``Pipeline.scan`` does. A track follows one label: the
one given (``labels=[NAME]``), else its own top label (the highest mean over its taggram;
``top_labels=1``, the default). ``start``/``duration`` do not apply and are refused. In the
global explanation each snippet is one explanation (``explanations``), ``tracks`` counts tracks.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import hashlib
import io
import json
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import attrs

from ..errors import UsageError
from ..output import ResumableFolder, safe_name, safe_names, write_text_atomically
from ..wording import plural
from ..registry import KINDS
from .aggregate import METRICS, aggregate, global_rows
from .engines import check_engine, ray_recipe, run_local, run_ray
from .metadata import TRACK_COLUMN, read_metadata, top_tag_tables, unmatched
from .tracks import Track, find_tracks
from .worker import (EXPLAINED, FAILED, SKIPPED, TrackJob, TrackOutcome, has_result, load_pipeline, read_result,
                     result_explanations)

KIND = "dataset"
TRACKS = "tracks"
FAILURES = "failures.jsonl"
HASH_CHARS = 16


@attrs.frozen
class DatasetResult:
    """What a run did: counts by status, the failures, the global explanation and where it all is."""

    out: Path
    tracks: list[str]
    explained: list[str]
    skipped: list[str]
    failures: list[TrackOutcome]
    global_explanation: dict[str, Any]
    settings_hash: str
    engine: str
    workers: int
    wall_seconds: float
    metadata: dict[str, Any] = attrs.field(factory=dict)  # {column: {value: {tag: tracks}}}
    page: Path | None = None  # OUT/index.html, when the run wrote its page

    @property
    def failed(self) -> list[str]:
        return [outcome.track for outcome in self.failures]

    @property
    def ok(self) -> bool:
        """True when no track failed."""
        return not self.failures

    def summary(self, labels: int = 10, stems: int = 3) -> str:
        """What the command line prints: the counts, then per label (most explained first) the
        ``stems`` most important stems with their importance and mean weight."""
        workers = plural(self.workers, "worker")
        lines = [f"{len(self.tracks)} tracks in {self.wall_seconds:.1f} s ({self.engine} engine, {workers}): "
                 f"{len(self.explained)} explained, {len(self.skipped)} already done, {len(self.failures)} failed"]
        shown = list(self.global_explanation.get("labels", {}).items())[:labels]
        if shown:
            lines.append("global explanation, top stems by importance (sqrt of summed |weight|; mean weight in brackets):")
        for label, entry in shown:
            ranked = sorted(entry["components"].items(), key=lambda item: -item[1]["importance"])[:stems]
            parts = ", ".join(f"{stem} {m['importance']:.3f} ({m['mean_weight']:+.3f})" for stem, m in ranked)
            lines.append(f"  {label} ({count_text(entry)}): {parts}")
        if len(self.global_explanation.get("labels", {})) > labels:
            lines.append(f"  ... {len(self.global_explanation['labels']) - labels} more labels in {self.out / 'global.csv'}")
        page = ", index.html" if self.page is not None else ""
        lines.append(f"wrote {self.out / 'global.json'}, global.csv, global.png, run.json, tracks/{page}")
        return "\n".join(lines)


def count_text(entry: dict[str, Any]) -> str:
    """``4 tracks``, or ``4 tracks, 12 snippets`` when the tracks were explained in snippets."""
    tracks, explanations = entry["tracks"], entry.get("explanations", entry["tracks"])
    text = plural(tracks, "track")
    return text if explanations == tracks else f"{text}, {plural(explanations, 'snippet')}"


def settings_record(pipeline: Any, options: dict[str, Any], top_k: int, snippets: int | None = None) -> dict[str, Any]:
    """What a track's result depends on: the components, the settings that change results (the
    batch size only changes speed), the explain options, the snippets and every component's version."""
    from .. import __version__

    settings = {key: value for key, value in pipeline.settings().items() if key != "batch_size"}
    return {
        "pipeline": dict(pipeline.specs),
        "settings": settings,
        "explain": dict(options),
        "top_k": top_k,
        "versions": {"stemlime": __version__} | {kind: pipeline.component_version(kind) for kind in KINDS},
        **({"snippets": f"best:{snippets}"} if snippets is not None else {}),
    }


def snippet_options(options: dict[str, Any], given: dict[str, Any], snippets: int | None) -> dict[str, Any]:
    """The explain options of a run with snippets, checked (see the module): one label per track
    (the one given, else ``top_labels=1``), and no excerpt. ``given``: the options as passed."""
    if snippets is None:
        return options
    excerpt = [options["start"], options["duration"], given.get("start"), given.get("duration")]
    if excerpt[0] or any(value is not None for value in excerpt[1:]):  # an explicit start=0 too
        raise UsageError("snippets are tagger windows chosen in each track's taggram: give either --start/--duration "
                         "(start=, duration=: one excerpt per track) or --snippets best:N, not both")
    labels = options["labels"]
    if labels is not None and not isinstance(labels, (str, int)) and len(labels) != 1:
        raise UsageError(f"with snippets each track follows one label (its snippets are where that label is highest), "
                         f"got {len(labels)} labels; give one --label, or run once per label into its own --out")
    if options["top_labels"] not in (None, 1):
        raise UsageError(f"with snippets each track follows one label: its top label (--top-labels 1, the default with "
                         f"--snippets) or one --label NAME; got --top-labels {options['top_labels']}")
    return options | ({"top_labels": 1} if labels is None else {})


def settings_hash(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def _csv_text(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _worker_stats(outcomes: Sequence[TrackOutcome]) -> list[dict[str, Any]]:
    """Per worker process (host:pid): the tracks it explained and its peak memory in MiB."""
    seen: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.worker:
            stats = seen.setdefault(outcome.worker, {"worker": outcome.worker, "tracks": 0, "peak_rss_mb": 0.0})
            stats["tracks"] += outcome.status == EXPLAINED
            stats["peak_rss_mb"] = round(max(stats["peak_rss_mb"], outcome.peak_rss_mb), 1)
    return sorted(seen.values(), key=lambda stats: stats["worker"])


def _check_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise UsageError(f"top_k must be a count of at least 1, got {top_k!r}")
    return top_k


def _write_summaries(root: Path, jobs: list[TrackJob], hash_: str, metadata: dict[str, dict[str, str]] | None,
                     snippets: int | None = None) -> tuple[dict, dict]:
    """global.json/.csv/.png (and the metadata tables) from the results with this run's hash."""
    from .plots import has_matplotlib, plot_global, plot_top_tags

    results, explanations = {}, []
    for job in jobs:
        result = read_result(job.folder)
        if result is not None and (result.get("dataset") or {}).get("settings_hash") == hash_:
            results[job.track.name] = result
            explanations.extend(result_explanations(job.folder, result))
    global_explanation = aggregate(explanations) | {"settings_hash": hash_}
    if snippets is not None:
        global_explanation["snippets"] = f"best:{snippets}"  # each snippet one explanation
    columns = ["label", "stem", "tracks", *METRICS, "explanations"]
    write_text_atomically(root / "global.csv", _csv_text(global_rows(global_explanation), columns))
    tables: dict[str, Any] = {}
    if metadata is not None:
        top_tags = {track: result["dataset"]["top_tags"][0][0] for track, result in results.items() if result["dataset"]["top_tags"]}
        tables = top_tag_tables(top_tags, metadata)
        global_explanation["metadata"] = tables
        for column, table in tables.items():
            rows = [{column: value, "top_tag": tag, "tracks": count} for value, counts in table.items() for tag, count in counts.items()]
            write_text_atomically(root / f"metadata-{safe_name(column)}.csv", _csv_text(rows, [column, "top_tag", "tracks"]))
    write_text_atomically(root / "global.json", _json_text(global_explanation))
    if has_matplotlib():
        if global_explanation["labels"]:
            plot_global(global_explanation, root / "global.png")
        for column, table in tables.items():
            if table:
                plot_top_tags(table, column, root / f"metadata-{safe_name(column)}.png")
    else:
        warnings.warn("matplotlib is not installed, so global.png and the metadata pictures are not drawn; "
                      "pip install 'stemlime[plot]'")
    return global_explanation, tables


def explain_dataset(
    pipeline: Any,
    data: str | Path,
    out: str | Path,
    *,
    top_k: int = 1,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    metadata: str | Path | None = None,
    snippets: str | int | None = None,
    report: bool = False,
    progress: bool | None = None,
    **explain: Any,
) -> DatasetResult:
    """Explain every track of the dataset folder ``data`` with ``pipeline`` into ``out``, then
    aggregate the explanations by stem (:mod:`stemlime.dataset.aggregate`).

    Tracks are found by :func:`stemlime.dataset.tracks.find_tracks`; each is explained as
    ``pipeline.explain(track, **explain)`` would (``explain``: ``labels``, ``top_labels``,
    ``start``, ``duration``, ``samples``, ``seed``, ``pad``, ``checks``, as there; ``top_k``
    components summed in each ``explanations/<label>.wav``). ``engine="local"`` explains in this
    process, ``"ray"`` on ``workers`` Ray actors (default: one per CPU of the cluster): on the
    cluster at ``address`` (``"auto"``, ``"ray://HOST:PORT"``), else on the Ray already started in
    this process, else on a local cluster started (and shut down) here. ``metadata``: a CSV with a
    ``track`` column, whose other columns are tabled against each track's top predicted tag.
    ``snippets="best:N"`` (or ``N``): explain each track's N best tagger windows for one label
    instead of one excerpt (see the module). ``report``: write the page ``OUT/index.html`` at the
    end of the run (``stemlime.report``; the tracks' pages with it). ``progress``: a bar over
    tracks (default: on a terminal).

    A failed track is recorded (``result.failures``, ``OUT/failures.jsonl``) and the run goes on;
    a rerun retries it and skips every finished track. Everything that concerns every track (the
    folders, the options, the labels, the models) is checked before the first track runs.
    Ctrl-C stops the run, keeps every finished track and writes ``run.json`` (``complete``: false).
    """
    from tqdm import tqdm

    from ..scan import parse_snippets

    began = time.perf_counter()
    snippets = parse_snippets(snippets)
    options = snippet_options(pipeline.explain_options(**explain), explain, snippets)
    top_k = _check_top_k(top_k)
    check_engine(engine, workers, address)
    tracks = find_tracks(data)
    table = read_metadata(metadata) if metadata is not None else None
    folder = ResumableFolder(out, KIND, inputs=[data, metadata], subfolders=[TRACKS])
    folder.check()  # before any model loads
    if engine == "local":
        load_pipeline(pipeline, options)
    else:
        recipe = ray_recipe(pipeline)
    record = settings_record(pipeline, options, top_k, snippets)
    hash_ = settings_hash(record)
    with folder as root:
        jobs = [TrackJob(track, root / TRACKS / name, options, top_k, hash_, snippets)
                for track, name in zip(tracks, safe_names([t.name for t in tracks]))]
        finished = {job.track.name for job in jobs if has_result(job)}
        todo = [job for job in jobs if job.track.name not in finished]
        replaced = [job.track.name for job in todo if read_result(job.folder) is not None]
        if replaced:
            warnings.warn(f"{len(replaced)} result(s) in {out} were made with other settings or another stemlime and are "
                          f"explained again (e.g. {replaced[0]})")
        outcomes: list[TrackOutcome] = []
        run = {"kind": KIND, "data": str(Path(data).expanduser().resolve()), "out": str(root), "engine": engine,
               "address": address, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "pipeline": dict(pipeline.specs), "settings": record, "settings_hash": hash_}
        bar = tqdm(total=len(jobs), initial=len(finished), unit="track", desc="explaining tracks",
                   disable=(None if progress is None else not progress), dynamic_ncols=True)
        complete = False
        try:
            if todo:
                runner = run_local(pipeline, todo) if engine == "local" else run_ray(pipeline, recipe, todo, options,
                                                                                       address=address, workers=workers)
                with contextlib.closing(runner):
                    for outcome in runner:
                        outcomes.append(outcome)
                        bar.update(1)
                        failed = sum(o.status == FAILED for o in outcomes)
                        if failed:
                            bar.set_postfix(failed=failed)
            complete = True
        finally:
            bar.close()
            failures = [o for o in outcomes if o.status == FAILED]
            write_text_atomically(root / FAILURES, "".join(json.dumps(o.failure_record(), ensure_ascii=False) + "\n" for o in failures))
            if complete:
                global_explanation, tables = _write_summaries(root, jobs, hash_, table, snippets)
                if table is not None:
                    run["metadata"] = {"file": str(Path(metadata).expanduser().resolve()),
                                       "tracks_not_listed": unmatched([t.name for t in tracks], table)}
            wall = time.perf_counter() - began
            order = {job.track.name: i for i, job in enumerate(jobs)}
            explained = sorted((o.track for o in outcomes if o.status == EXPLAINED), key=order.__getitem__)
            workers_seen = _worker_stats(outcomes)
            run |= {
                "complete": complete,
                "results": {job.track.name: job.folder.relative_to(root).as_posix() for job in jobs if has_result(job)},
                "tracks": {"total": len(jobs), "explained": len(explained),
                           "skipped": len(finished) + sum(o.status == SKIPPED for o in outcomes),
                           "failed": len(failures), "not_run": len(todo) - len(outcomes), "replaced": len(replaced)},
                "wall_seconds": round(wall, 3),
                "tracks_per_minute": round(60 * len(explained) / wall, 2) if explained else 0.0,
                "workers": workers_seen,
                "versions": record["versions"],
            }
            write_text_atomically(root / "run.json", _json_text(run))
        page = None
        if report:  # a rerun that explained nothing new writes it too
            from ..report import render_report

            page = render_report(root, kind=KIND)
    skipped = sorted(list(finished) + [o.track for o in outcomes if o.status == SKIPPED], key=order.__getitem__)
    failures.sort(key=lambda o: order[o.track])
    return DatasetResult(root, [t.name for t in tracks], explained, skipped, failures, global_explanation, hash_, engine,
                         max(1, len(workers_seen)), wall, tables, page)
