"""The per-track work, the same for every engine: explain one track and save its result.

``explain_track(pipeline, job)`` is idempotent: a track whose folder already holds a result with
the job's settings hash is skipped, so a retried or repeated task never explains twice. The
result folder is written whole by ``Explanation.save`` (a ``ResultFolder``: built beside it and
swapped in), by the process that computed it. A failure of the track (unreadable audio, a
tagger error, a full disk) comes back as an outcome; it never raises.

With snippets (``--snippets best:N``) a track is scanned instead (``Pipeline.scan``): its
taggram picks the N tagger windows where the label is highest, each is explained, and the
folder is what ``stemlime scan`` writes (``scan.json``, ``snippets/<rank>-<start>s/``, pages),
written whole by ``Scan.save``. The track's record (track, settings hash, top tags) is then in
``scan.json``, and each snippet's ``explanation.json`` names its track and rank.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import attrs

from ..errors import StemlimeError, UsageError
from ..output import marker_kind
from .tracks import Track

EXPLAINED, SKIPPED, FAILED = "explained", "skipped", "failed"
TOP_TAGS = 5  # the tagger's top labels kept in each track's record (the first is its top predicted tag)


@attrs.frozen
class TrackJob:
    """What one task does: explain ``track`` with ``options`` into ``folder``."""

    track: Track
    folder: Path  # OUT/tracks/<safe track name>
    options: dict[str, Any]  # Pipeline.explain's options, resolved
    top_k: int  # components summed in explanations/<label>.wav
    settings_hash: str
    snippets: int | None = None  # explain the N best tagger windows of the track (a scan), not one excerpt


@attrs.frozen
class TrackOutcome:
    """How a task ended: ``status`` is ``explained``, ``skipped`` (its result was there) or ``failed``."""

    track: str
    status: str
    seconds: float = 0.0  # wall-clock time of the task
    error: str | None = None  # the exception's type, for a failure
    message: str | None = None  # what went wrong, for a failure
    warnings: tuple[str, ...] = ()
    worker: str = ""  # host:pid of the process that ran it
    peak_rss_mb: float = 0.0  # the worker process's peak resident memory so far, MiB

    def failure_record(self) -> dict[str, Any]:
        """The line of ``failures.jsonl``: track, error type, message."""
        return {"track": self.track, "error": self.error, "message": self.message}


def worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


RESULT_FILES = {"explanation": "explanation.json", "scan": "scan.json"}  # a track folder's kind -> its result


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_result(folder: Path) -> dict[str, Any] | None:
    """A track folder's result as a dict (``explanation.json``, or ``scan.json`` for snippets), or
    None when there is no complete result."""
    name = RESULT_FILES.get(marker_kind(folder) or "")
    return None if name is None else _read_json(folder / name)


def result_explanations(folder: Path, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The explanations a track's result holds, as ``explanation.json`` dicts: the track's own,
    or one per snippet (in rank order) when it was scanned."""
    if "snippets" not in result:
        return [result]
    found = [_read_json(folder / snippet["explanation"] / "explanation.json") for snippet in result["snippets"]]
    return [explanation for explanation in found if explanation is not None]


def has_result(job: TrackJob) -> bool:
    """Whether the job's folder holds this track's result made with the job's settings."""
    result = read_result(job.folder)
    record = (result or {}).get("dataset") or {}
    return record.get("settings_hash") == job.settings_hash and record.get("track") == job.track.name


def describe(error: BaseException) -> str:
    """One paragraph for failures.jsonl: the message, and where a bug (not a StemlimeError) came from."""
    message = str(error) or type(error).__name__
    if not isinstance(error, StemlimeError):
        frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        if frame:
            message += f" (at {Path(frame[0].filename).name}:{frame[0].lineno} in {frame[0].name})"
    return message


def load_pipeline(pipeline: Any, options: dict[str, Any]) -> None:
    """Build the pipeline's components (models loaded once) and check what concerns every track
    (labels, checks) before any track runs: a UsageError or StemlimeError here stops the run."""
    from ..checks import parse_checks
    from ..labels import check_label_request

    tagger = pipeline.tagger
    for kind in ("separator", "segmenter", "surrogate"):
        getattr(pipeline, kind)
    check_label_request(pipeline.tagger_labels, options.get("labels"), options.get("top_labels"))
    parse_checks(options.get("checks"), tagger, pipeline.specs["tagger"])


def _record(job: TrackJob, reference: Any, tagger_labels: list[str], caught: list) -> dict[str, Any]:
    """The track's record in its result: track, settings hash, the tagger's top tags on what it
    heard (the excerpt, or the mean over the song's taggram), the warnings."""
    order = sorted(range(len(reference)), key=lambda i: -float(reference[i]))[:TOP_TAGS]
    return {
        "track": job.track.name,
        "settings_hash": job.settings_hash,
        "top_tags": [[tagger_labels[i], float(reference[i])] for i in order],
        "warnings": list(dict.fromkeys(str(w.message) for w in caught)),
    }


def _scan_track(pipeline: Any, job: TrackJob, caught: list) -> dict[str, Any]:
    """Scan the track for its label (one given label, or its top label) and save the scan folder."""
    options = job.options
    labels = options.get("labels")
    label = labels[0] if isinstance(labels, (list, tuple)) else labels
    scan = pipeline.scan(job.track.audio, label=label, snippets=job.snippets, samples=options["samples"],
                         seed=options["seed"], pad=options["pad"], checks=options.get("checks"), progress=False)
    record = _record(job, scan.taggram.mean(axis=0), scan.tagger_labels, caught)
    snippets = [attrs.evolve(s, explanation=attrs.evolve(s.explanation, dataset={
        "track": job.track.name, "settings_hash": job.settings_hash, "snippet": s.rank})) for s in scan.snippets]
    attrs.evolve(scan, snippets=snippets, dataset=record).save(job.folder, k=job.top_k)
    return record


def explain_track(pipeline: Any, job: TrackJob) -> TrackOutcome:
    """Explain one track into its folder (see the module); never raises for a failure of the track."""
    began = time.perf_counter()
    if has_result(job):
        return TrackOutcome(job.track.name, SKIPPED, worker=worker_name(), peak_rss_mb=peak_rss_mb())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if job.snippets is not None:
                record = _scan_track(pipeline, job, caught)
            else:
                explanation = pipeline.explain(job.track.audio, progress=False, **job.options)
                record = _record(job, explanation.neighbourhood.predictions[0], explanation.tagger_labels, caught)
                attrs.evolve(explanation, dataset=record).save(job.folder, k=job.top_k)
        except Exception as error:  # a failed track is recorded, never the end of the run
            return TrackOutcome(job.track.name, FAILED, time.perf_counter() - began, type(error).__name__, describe(error),
                                worker=worker_name(), peak_rss_mb=peak_rss_mb())
    return TrackOutcome(job.track.name, EXPLAINED, time.perf_counter() - began, warnings=tuple(record["warnings"]),
                        worker=worker_name(), peak_rss_mb=peak_rss_mb())


class TrackWorker:
    """What a Ray actor holds: one loaded pipeline, rebuilt from a recipe (see ``Pipeline.recipe``),
    that explains many tracks. Paths in the recipe's specs are read from ``cwd``, the driver's
    folder, where it exists on the worker's machine."""

    def __init__(self, recipe: dict[str, Any], cwd: str | None = None):
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)
        from ..pipeline import Pipeline

        self.pipeline = Pipeline(**recipe)

    def ready(self, options: dict[str, Any]) -> tuple[str, str, bool] | None:
        """Load the models and check the options: None, or (error type, message, is a usage error)."""
        try:
            load_pipeline(self.pipeline, options)
        except Exception as error:
            return type(error).__name__, describe(error), isinstance(error, UsageError)
        return None

    def explain(self, job: TrackJob) -> TrackOutcome:
        return explain_track(self.pipeline, job)
