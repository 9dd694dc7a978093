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

OUT is filled, not replaced (see ``stemlime.fs.ResumableFolder``): each track's folder is
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
import shutil
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator, Iterable, Sequence

import attrs

from ..errors import StemlimeError, UsageError
from ..fs import ResumableFolder, write_text_atomically
from ..naming import safe_name, safe_names
from ..records import DatasetRun, GlobalExplanation, TrackFailure, failures_text, json_text
from ..registry import KINDS
from ..request import ExplainRequest
from ..wording import plural
from .aggregate import METRICS, aggregate
from .engines import check_engine, ray_recipe, run_local, run_ray
from .metadata import read_metadata, top_tag_tables, unmatched
from .tracks import find_tracks
from .worker import EXPLAINED, FAILED, SKIPPED, TrackJob, TrackOutcome, TrackResult, has_result, load_pipeline, read_result

if TYPE_CHECKING:
    from ..pipeline import Pipeline

KIND = "dataset"
TRACKS = "tracks"
FAILURES = "failures.jsonl"
HASH_CHARS = 16
STAGING = ".summary.tmp"  # the summary files are built here, then moved into OUT (run.json last)


@attrs.frozen
class DatasetResult:
    """What a run did: counts by status, the failures, the global explanation and where it all is."""

    out: Path
    tracks: list[str]
    explained: list[str]
    skipped: list[str]
    failures: list[TrackOutcome]
    global_explanation: GlobalExplanation
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

    def raise_for_failures(self) -> None:
        """A StemlimeError naming the first failed track and what to do, when any track failed."""
        if self.failures:
            first = self.failures[0]
            raise StemlimeError(
                f"{len(self.failures)} of {len(self.tracks)} tracks failed (first: {first.track}: "
                f"{first.error}: {first.message}); see {self.out / FAILURES}, and run the same command "
                "again to retry them"
            )

    def summary(self, labels: int = 10, stems: int = 3) -> str:
        """What the command line prints: the counts, then per label (most explained first) the
        ``stems`` most important stems with their importance and mean weight."""
        workers = plural(self.workers, "worker")
        lines = [
            f"{len(self.tracks)} tracks in {self.wall_seconds:.1f} s ({self.engine} engine, {workers}): "
            f"{len(self.explained)} explained, {len(self.skipped)} already done, {len(self.failures)} failed"
        ]
        shown = list(self.global_explanation.labels.items())[:labels]
        if shown:
            lines.append("global explanation, top stems by importance (sqrt of summed |weight|; mean weight in brackets):")
        for label, entry in shown:
            parts = ", ".join(f"{stem} {m.importance:.3f} ({m.mean_weight:+.3f})" for stem, m in entry.ranked()[:stems])
            lines.append(f"  {label} ({count_text(entry.tracks, entry.explanations)}): {parts}")
        if len(self.global_explanation.labels) > labels:
            lines.append(f"  ... {len(self.global_explanation.labels) - labels} more labels in {self.out / 'global.csv'}")
        page = ", index.html" if self.page is not None else ""
        lines.append(f"wrote {self.out / 'global.json'}, global.csv, global.png, run.json, tracks/{page}")
        return "\n".join(lines)


def count_text(tracks: int, explanations: int) -> str:
    """``4 tracks``, or ``4 tracks, 12 snippets`` when the tracks were explained in snippets."""
    text = plural(tracks, "track")
    return text if explanations == tracks else f"{text}, {plural(explanations, 'snippet')}"


def settings_record(pipeline: "Pipeline", request: ExplainRequest, snippets: int | None = None) -> dict[str, Any]:
    """What a track's result depends on: the components, the settings that change results (the
    batch size only changes speed), the explain options, the snippets and every component's version."""
    from ..version import __version__

    settings = {key: value for key, value in pipeline.settings().items() if key != "batch_size"}
    return {
        "pipeline": dict(pipeline.specs),
        "settings": settings,
        "explain": request.options(),
        "top_k": request.top_k,
        "versions": {"stemlime": __version__} | {kind: pipeline.component_version(kind) for kind in KINDS},
        **({"snippets": f"best:{snippets}"} if snippets is not None else {}),
    }


def snippet_request(request: ExplainRequest, given: dict[str, Any], snippets: int | None) -> ExplainRequest:
    """The request of a run with snippets, checked (see the module): one label per track (the
    one given, else ``top_labels=1``), and no excerpt. ``given``: the options as passed."""
    if snippets is None:
        return request
    if request.start or request.duration is not None or given.get("start") is not None:  # an explicit start=0 too
        raise UsageError(
            "snippets are tagger windows chosen in each track's taggram: give either --start/--duration "
            "(start=, duration=: one excerpt per track) or --snippets best:N, not both"
        )
    if request.labels is not None and len(request.labels) != 1:
        raise UsageError(
            f"with snippets each track follows one label (its snippets are where that label is highest), "
            f"got {len(request.labels)} labels; give one --label, or run once per label into its own --out"
        )
    if request.top_labels not in (None, 1):
        raise UsageError(
            f"with snippets each track follows one label: its top label (--top-labels 1, the default with "
            f"--snippets) or one --label NAME; got --top-labels {request.top_labels}"
        )
    return request.replace(top_labels=1) if request.labels is None else request


def settings_hash(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def _csv_text(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _worker_stats(outcomes: Sequence[TrackOutcome]) -> list[dict[str, Any]]:
    """Per worker process (host:pid): the tracks it explained and its peak memory in MiB."""
    seen: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.worker:
            stats = seen.setdefault(outcome.worker, {"worker": outcome.worker, "tracks": 0, "peak_rss_mb": 0.0})
            stats["tracks"] += outcome.status == EXPLAINED
            stats["peak_rss_mb"] = round(max(stats["peak_rss_mb"], outcome.peak_rss_mb), 1)
    return sorted(seen.values(), key=lambda stats: stats["worker"])


def _summaries(
    results: dict[str, TrackResult], hash_: str, metadata: dict[str, dict[str, str]] | None, snippets: int | None
) -> tuple[GlobalExplanation, dict[str, Any], dict[str, str]]:
    """The global explanation of this run's results (in memory), the metadata tables, and the
    summary files' texts: global.json, global.csv and the metadata CSVs."""
    global_explanation = aggregate(e for result in results.values() for e in result.explanations)
    tables: dict[str, Any] = {}
    files: dict[str, str] = {}
    if metadata is not None:
        top_tags = {track: result.top_tag for track, result in results.items() if result.top_tag is not None}
        tables = top_tag_tables(top_tags, metadata)
        for column, table in tables.items():
            rows = [{column: value, "top_tag": tag, "tracks": count} for value, counts in table.items() for tag, count in counts.items()]
            files[f"metadata-{safe_name(column)}.csv"] = _csv_text(rows, [column, "top_tag", "tracks"])
    global_explanation = attrs.evolve(
        global_explanation,
        settings_hash=hash_,
        snippets=None if snippets is None else f"best:{snippets}",
        metadata=tables if metadata is not None else None,
    )
    columns = ["label", "stem", "tracks", *METRICS, "explanations"]
    files["global.csv"] = _csv_text(global_explanation.rows(), columns)
    files["global.json"] = json_text(global_explanation.to_json())
    return global_explanation, tables, files


def _draw(global_explanation: GlobalExplanation, tables: dict[str, Any], folder: Path) -> None:
    """global.png and the metadata pictures into ``folder`` (a warning without matplotlib)."""
    from .plots import has_matplotlib, plot_global, plot_top_tags

    if not has_matplotlib():
        warnings.warn("matplotlib is not installed, so global.png and the metadata pictures are not drawn; pip install 'stemlime[plot]'")
        return
    if global_explanation.labels:
        plot_global(global_explanation, folder / "global.png")
    for column, table in tables.items():
        if table:
            plot_top_tags(table, column, folder / f"metadata-{safe_name(column)}.png")


def _publish(root: Path, files: dict[str, str], draw: Any, run: DatasetRun) -> None:
    """Build the summary files in a staging folder inside OUT, then move each into place, run.json
    last: a run interrupted before run.json says ``complete: true`` leaves the earlier run.json
    (``complete: false``, written when the run began) in charge."""
    staging = root / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        draw(staging)
        for path in sorted(staging.iterdir()):
            path.replace(root / path.name)
        write_text_atomically(root / DatasetRun.FILE, json_text(run.to_json()))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def explain_dataset(
    pipeline: "Pipeline",
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
    """Explain every track of a dataset folder, then aggregate the explanations by stem.

    A failed track is recorded (``result.failures``, ``OUT/failures.jsonl``) and the run goes on;
    a rerun retries it and skips every finished track. Everything that concerns every track (the
    folders, the options, the labels, the models) is checked before the first track runs.
    Ctrl-C stops the run, keeps every finished track and leaves ``run.json`` saying
    ``complete: false``. Aggregation: :mod:`stemlime.dataset.aggregate`.

    Parameters
    ----------
    pipeline : Pipeline
        The tagger, separator, segmenter and surrogate to use.
    data : str or Path
        The dataset folder; tracks are found by :func:`stemlime.dataset.tracks.find_tracks`.
    out : str or Path
        The result folder: one folder per track, ``global.json``, ``global.csv``, ``global.png``.
    top_k : int, default 1
        Top positive components summed into each ``explanations/<label>.wav``.
    engine : {"local", "ray"}, default "local"
        ``"local"`` explains in this process, ``"ray"`` on Ray actors.
    address : str, optional
        The Ray cluster (``"auto"``, ``"ray://HOST:PORT"``); default: the Ray already started in
        this process, else a local cluster started (and shut down) here.
    workers : int, optional
        Number of Ray actors (default: one per CPU of the cluster).
    metadata : str or Path, optional
        A CSV with a ``track`` column, whose other columns are tabled against each track's top
        predicted tag.
    snippets : str or int, optional
        ``"best:N"`` (or ``N``): explain each track's N best tagger windows for one label
        instead of one excerpt.
    report : bool, default False
        Write the page ``OUT/index.html`` at the end of the run (with the tracks' pages).
    progress : bool, optional
        A progress bar over tracks (default: on a terminal).
    **explain
        ``labels``, ``top_labels``, ``start`` (s), ``duration`` (s), ``samples``, ``seed``,
        ``pad``, ``checks``: as in :meth:`stemlime.Pipeline.explain`, for every track.

    Returns
    -------
    DatasetResult
        The tracks, which were explained, skipped (already done) or failed, the global
        explanation by stem, the metadata tables, the wall time in seconds and the page.
    """
    from ..scanning import parse_snippets
    from ..validators import boolean

    began = time.perf_counter()
    snippets = parse_snippets(snippets)
    given = {key: value for key, value in explain.items() if value is not None}
    request = snippet_request(pipeline.request(**given, top_k=top_k), given, snippets)
    report = boolean(report, "report", flag="--report")
    check_engine(engine, workers, address)
    tracks = find_tracks(data)
    table = read_metadata(metadata) if metadata is not None else None
    folder = ResumableFolder(out, KIND, inputs=[data, metadata], subfolders=[TRACKS], read_inside=[data])
    folder.check()  # before any model loads
    if engine == "local":
        load_pipeline(pipeline, request)
    else:
        recipe = ray_recipe(pipeline)
    record = settings_record(pipeline, request, snippets)
    hash_ = settings_hash(record)
    with folder as root:
        jobs = [
            TrackJob(track, root / TRACKS / name, root, request, hash_, snippets)
            for track, name in zip(tracks, safe_names([t.name for t in tracks]))
        ]
        plan = _plan(jobs, out)
        run = _first_run_record(pipeline, data, root, engine, address, record, hash_, plan, table, metadata, tracks)
        write_text_atomically(root / DatasetRun.FILE, json_text(run.to_json()))  # until the end: complete false
        outcomes: list[TrackOutcome] = []
        complete = False
        try:
            if plan.todo:
                runner = (
                    run_local(pipeline, plan.todo)
                    if engine == "local"
                    else run_ray(pipeline, recipe, plan.todo, request, address=address, workers=workers)
                )
                _follow(runner, outcomes, len(jobs), len(plan.finished), progress)
            complete = True
        finally:
            run = _closing_run_record(run, root, plan, outcomes, complete, time.perf_counter() - began)
        global_explanation, tables, files = _summaries(plan.ordered_results(), hash_, table, snippets)
        _publish(root, files, lambda staging: _draw(global_explanation, tables, staging), run)
        page = None
        if report:  # a rerun that explained nothing new writes it too
            from ..report import render_report

            page = render_report(root, kind=KIND)
    explained = plan.by_order(o.track for o in outcomes if o.status == EXPLAINED)
    skipped = plan.by_order(list(plan.finished) + [o.track for o in outcomes if o.status == SKIPPED])
    return DatasetResult(
        root,
        [t.name for t in tracks],
        explained,
        skipped,
        plan.failures(outcomes),
        global_explanation,
        hash_,
        engine,
        max(1, len(run.workers)),
        run.wall_seconds,
        tables,
        page,
    )


@attrs.define
class _Plan:
    """The tracks of a run: the jobs in dataset order, the results already there (``finished``),
    what is left to do, and which earlier results are explained again (other settings)."""

    jobs: list[TrackJob]
    results: dict[str, TrackResult]
    finished: set[str]
    todo: list[TrackJob]
    replaced: list[str]

    def by_order(self, names: Iterable[str]) -> list[str]:
        order = {job.track.name: i for i, job in enumerate(self.jobs)}
        return sorted(names, key=order.__getitem__)

    def failures(self, outcomes: Sequence[TrackOutcome]) -> list[TrackOutcome]:
        failed = {o.track: o for o in outcomes if o.status == FAILED}
        return [failed[name] for name in self.by_order(failed)]

    def folders(self, root: Path) -> dict[str, str]:
        """Each track with a result -> its folder, relative to the run's folder."""
        return {job.track.name: job.folder.relative_to(root).as_posix() for job in self.jobs if job.track.name in self.results}

    def ordered_results(self) -> dict[str, TrackResult]:
        return {track: self.results[track] for track in self.by_order(self.results)}


def _plan(jobs: list[TrackJob], out: str | Path) -> _Plan:
    results: dict[str, TrackResult] = {}
    for job in jobs:
        found = read_result(job.folder)
        if found is not None and has_result(job):
            results[job.track.name] = found
    todo = [job for job in jobs if job.track.name not in results]
    replaced = [job.track.name for job in todo if read_result(job.folder) is not None]
    if replaced:
        warnings.warn(
            f"{len(replaced)} result(s) in {out} were made with other settings or another stemlime and are "
            f"explained again (e.g. {replaced[0]})"
        )
    return _Plan(jobs, results, set(results), todo, replaced)


def _first_run_record(
    pipeline: "Pipeline",
    data: str | Path,
    root: Path,
    engine: str,
    address: str | None,
    record: dict[str, Any],
    hash_: str,
    plan: _Plan,
    table: Any,
    metadata: str | Path | None,
    tracks: Sequence[Any],
) -> DatasetRun:
    """``run.json`` as the run starts: ``complete: false``, nothing explained yet."""
    return DatasetRun(
        data=str(Path(data).expanduser().resolve()),
        out=str(root),
        engine=engine,
        address=address,
        started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        pipeline=dict(pipeline.specs),
        settings=record,
        settings_hash=hash_,
        complete=False,
        results=plan.folders(root),
        tracks={
            "total": len(plan.jobs),
            "explained": 0,
            "skipped": len(plan.finished),
            "failed": 0,
            "not_run": len(plan.todo),
            "replaced": len(plan.replaced),
        },
        wall_seconds=0.0,
        tracks_per_minute=0.0,
        workers=[],
        versions=record["versions"],
        metadata=None
        if table is None or metadata is None
        else {"file": str(Path(metadata).expanduser().resolve()), "tracks_not_listed": unmatched([t.name for t in tracks], table)},
    )


def _follow(
    runner: Generator[TrackOutcome, None, None], outcomes: list[TrackOutcome], total: int, done: int, progress: bool | None
) -> None:
    """Collect the runner's outcomes into ``outcomes`` (kept when interrupted), with a bar over tracks."""
    from tqdm import tqdm

    with (
        tqdm(
            total=total,
            initial=done,
            unit="track",
            desc="explaining tracks",
            disable=(None if progress is None else not progress),
            dynamic_ncols=True,
        ) as bar,
        contextlib.closing(runner),
    ):
        for outcome in runner:
            outcomes.append(outcome)
            bar.update(1)
            failed = sum(o.status == FAILED for o in outcomes)
            if failed:
                bar.set_postfix(failed=failed)


def _closing_run_record(
    run: DatasetRun, root: Path, plan: _Plan, outcomes: Sequence[TrackOutcome], complete: bool, wall: float
) -> DatasetRun:
    """The run's record after its tracks (all, or up to an interruption), with ``failures.jsonl``
    written; an interrupted run's ``run.json`` is written here (a complete one's after its summaries)."""
    for outcome in outcomes:
        if outcome.result is not None:
            plan.results[outcome.track] = outcome.result
    failures = plan.failures(outcomes)
    write_text_atomically(root / FAILURES, failures_text([_failure(o) for o in failures]))
    explained = sum(o.status == EXPLAINED for o in outcomes)
    run = attrs.evolve(
        run,
        complete=complete,
        wall_seconds=round(wall, 3),
        workers=_worker_stats(outcomes),
        results=plan.folders(root),
        tracks=run.tracks
        | {
            "explained": explained,
            "skipped": len(plan.finished) + sum(o.status == SKIPPED for o in outcomes),
            "failed": len(failures),
            "not_run": len(plan.todo) - len(outcomes),
        },
        tracks_per_minute=round(60 * explained / wall, 2) if explained else 0.0,
    )
    if not complete:
        write_text_atomically(root / DatasetRun.FILE, json_text(run.to_json()))
    return run


def _failure(outcome: TrackOutcome) -> TrackFailure:
    return TrackFailure(outcome.track, outcome.error, outcome.message)
