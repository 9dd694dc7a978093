"""The per-track work, the same for every engine: explain one track and save its result.

``explain_track(pipeline, job)`` is idempotent: a track whose folder already holds a result with
the job's settings hash is skipped, so a retried or repeated task never explains twice. The
result folder is written whole by ``Explanation.save`` (a ``ResultFolder``: built beside it and
swapped in), by the process that computed it. A failure of the track (unreadable audio, a
tagger error, a full disk) comes back as an outcome; it never raises.
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
from ..output import is_stemlime_output
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


def read_result(folder: Path) -> dict[str, Any] | None:
    """A track folder's ``explanation.json`` as a dict, or None when there is no complete result."""
    if not is_stemlime_output(folder):
        return None
    try:
        return json.loads((folder / "explanation.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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


def explain_track(pipeline: Any, job: TrackJob) -> TrackOutcome:
    """Explain one track into its folder (see the module); never raises for a failure of the track."""
    began = time.perf_counter()
    if has_result(job):
        return TrackOutcome(job.track.name, SKIPPED, worker=worker_name(), peak_rss_mb=peak_rss_mb())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            explanation = pipeline.explain(job.track.audio, progress=False, **job.options)
            reference = explanation.neighbourhood.predictions[0]
            order = sorted(range(len(reference)), key=lambda i: -float(reference[i]))[:TOP_TAGS]
            noted = list(dict.fromkeys(str(w.message) for w in caught))
            record = {
                "track": job.track.name,
                "settings_hash": job.settings_hash,
                "top_tags": [[explanation.tagger_labels[i], float(reference[i])] for i in order],
                "warnings": noted,
            }
            attrs.evolve(explanation, dataset=record).save(job.folder, k=job.top_k)
        except Exception as error:  # a failed track is recorded, never the end of the run
            return TrackOutcome(job.track.name, FAILED, time.perf_counter() - began, type(error).__name__, describe(error),
                                worker=worker_name(), peak_rss_mb=peak_rss_mb())
    return TrackOutcome(job.track.name, EXPLAINED, time.perf_counter() - began, warnings=tuple(noted),
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
