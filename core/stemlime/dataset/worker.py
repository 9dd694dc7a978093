"""The per-track work, the same for every engine: explain one track and save its result.

``explain_track(pipeline, job)`` is idempotent: a track whose folder already holds a result with
the job's settings hash is skipped, so a retried or repeated task never explains twice. The
result folder is written whole by ``Explanation.save`` (a ``ResultFolder``: built beside it and
swapped in), by the process that computed it. A failure of the track (unreadable audio, a
tagger error, a full disk) comes back as an outcome; it never raises.

With snippets (``--snippets best:N``) a track is scanned instead (``stemlime.scan``): its
taggram picks the N tagger windows where the label is highest, each is explained, and the
folder is what ``stemlime scan`` writes (``scan.json``, ``snippets/<rank>-<start>s/``, pages),
written whole by ``Scan.save``. The track's record (track, settings hash, top tags) is then in
``scan.json``, and each snippet's ``explanation.json`` names its track and rank.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import StemlimeError, UsageError
from ..fs import marker_kind
from ..records import ExplanationRecord, ScanRecord, read_explanation, read_scan
from ..request import ExplainRequest
from .tracks import Track

if TYPE_CHECKING:
    from ..pipeline import Pipeline

EXPLAINED, SKIPPED, FAILED = "explained", "skipped", "failed"
TOP_TAGS = 5  # the tagger's top labels kept in each track's record (the first is its top predicted tag)


@attrs.frozen
class TrackJob:
    """What one task does: explain ``track`` as ``request`` says into ``folder``, a part of ``root``."""

    track: Track
    folder: Path  # OUT/tracks/<safe track name>
    root: Path  # OUT, the dataset result the folder belongs to
    request: ExplainRequest  # the explain options (no output folder of its own; top_k for the WAVs)
    settings_hash: str
    snippets: int | None = None  # explain the N best tagger windows of the track (a scan), not one excerpt


@attrs.frozen
class TrackResult:
    """A finished track: its explanations (one, or one per snippet in rank order) and its record
    (``track``, ``settings_hash``, ``top_tags``, ``warnings``)."""

    explanations: tuple[ExplanationRecord, ...]
    record: dict[str, Any]

    @property
    def top_tag(self) -> str | None:
        """The tagger's top label on what it heard (the excerpt, or the mean over the song's taggram)."""
        tags = self.record.get("top_tags") or []
        return tags[0][0] if tags else None


@attrs.frozen
class TrackOutcome:
    """How a task ended: ``status`` is ``explained``, ``skipped`` (its result was there) or ``failed``;
    an explained track brings its result back with it (aggregation needs no second read)."""

    track: str
    status: str
    seconds: float = 0.0  # wall-clock time of the task
    error: str | None = None  # the exception's type, for a failure
    message: str | None = None  # what went wrong, for a failure
    warnings: tuple[str, ...] = ()
    worker: str = ""  # host:pid of the process that ran it
    peak_rss_mb: float = 0.0  # the worker process's peak resident memory so far, MiB
    result: TrackResult | None = None  # an explained track's result


def worker_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def read_result(folder: Path) -> TrackResult | None:
    """A track folder's result (``explanation.json``, or ``scan.json`` and its snippets'), or None
    when there is no complete, readable result."""
    try:
        kind = marker_kind(folder)
        if kind == "explanation":
            explanation = read_explanation(folder)
            return TrackResult((explanation,), explanation.dataset)
        if kind == "scan":
            scan: ScanRecord = read_scan(folder)
            return TrackResult(tuple(read_explanation(folder / s.explanation) for s in scan.snippets), scan.dataset)
    except UsageError:  # unreadable: explained again
        return None
    return None


def has_result(job: TrackJob) -> bool:
    """Whether the job's folder holds this track's result made with the job's settings."""
    result = read_result(job.folder)
    record = result.record if result is not None else {}
    return record.get("settings_hash") == job.settings_hash and record.get("track") == job.track.name


def describe(error: BaseException) -> str:
    """One paragraph for failures.jsonl: the message, and where a bug (not a StemlimeError) came from."""
    message = str(error) or type(error).__name__
    if not isinstance(error, StemlimeError):
        frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        if frame:
            message += f" (at {Path(frame[0].filename).name}:{frame[0].lineno} in {frame[0].name})"
    return message


def load_pipeline(pipeline: "Pipeline", request: ExplainRequest) -> None:
    """Build the pipeline's components (models loaded once) and check what concerns every track
    (labels, checks) before any track runs: a UsageError or StemlimeError here stops the run."""
    from ..checks import parse_checks
    from ..labels import check_label_request

    tagger = pipeline.tagger
    for kind in ("separator", "segmenter", "surrogate"):
        getattr(pipeline, kind)
    check_label_request(pipeline.tagger_labels, request.labels, request.top_labels)
    parse_checks(request.checks, tagger, pipeline.specs["tagger"])


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


def _scan_track(pipeline: "Pipeline", job: TrackJob, caught: list) -> TrackResult:
    """Scan the track for its label (one given label, or its top label) and save the scan folder."""
    from ..scanning import scan

    request = job.request
    label = request.labels[0] if request.labels else None
    assert job.snippets is not None  # only scan jobs come here
    found = scan(
        pipeline,
        job.track.audio,
        label=label,
        snippets=job.snippets,
        samples=request.samples,
        seed=request.seed,
        pad=request.pad,
        checks=request.checks,
        progress=False,
    )
    record = _record(job, found.taggram.mean(axis=0), found.tagger_labels, caught)
    snippets = [
        attrs.evolve(
            s,
            explanation=attrs.evolve(
                s.explanation, dataset={"track": job.track.name, "settings_hash": job.settings_hash, "snippet": s.rank}
            ),
        )
        for s in found.snippets
    ]
    attrs.evolve(found, snippets=snippets, dataset=record).save(job.folder, k=request.top_k, within=job.root)
    return TrackResult(tuple(s.explanation.record(request.top_k) for s in snippets), record)


def _explain_track(pipeline: "Pipeline", job: TrackJob, caught: list) -> TrackResult:
    """Explain the track's excerpt and save the explanation folder."""
    explanation = pipeline.explain(job.track.audio, progress=False, request=job.request)
    record = _record(job, explanation.neighbourhood.predictions[0], explanation.tagger_labels, caught)
    explanation = attrs.evolve(explanation, dataset=record)
    explanation.save(job.folder, k=job.request.top_k, within=job.root)
    return TrackResult((explanation.record(job.request.top_k),), record)


def explain_track(pipeline: "Pipeline", job: TrackJob) -> TrackOutcome:
    """Explain one track into its folder (see the module); never raises for a failure of the track."""
    began = time.perf_counter()
    if has_result(job):
        return TrackOutcome(job.track.name, SKIPPED, worker=worker_name(), peak_rss_mb=peak_rss_mb())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = (_scan_track if job.snippets is not None else _explain_track)(pipeline, job, caught)
        except Exception as error:  # a failed track is recorded, never the end of the run
            return TrackOutcome(
                job.track.name,
                FAILED,
                time.perf_counter() - began,
                type(error).__name__,
                describe(error),
                worker=worker_name(),
                peak_rss_mb=peak_rss_mb(),
            )
    return TrackOutcome(
        job.track.name,
        EXPLAINED,
        time.perf_counter() - began,
        warnings=tuple(result.record["warnings"]),
        worker=worker_name(),
        peak_rss_mb=peak_rss_mb(),
        result=result,
    )


class TrackWorker:
    """What a Ray actor holds: one loaded pipeline, rebuilt from a recipe (see ``Pipeline.recipe``),
    that explains many tracks. Paths in the recipe's specs are read from ``cwd``, the driver's
    folder, where it exists on the worker's machine."""

    def __init__(self, recipe: dict[str, Any], cwd: str | None = None):
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)
        from ..pipeline import Pipeline

        self.pipeline = Pipeline(**recipe)

    def ready(self, request: ExplainRequest) -> tuple[str, str, bool] | None:
        """Load the models and check the options: None, or (error type, message, is a usage error)."""
        try:
            load_pipeline(self.pipeline, request)
        except Exception as error:
            return type(error).__name__, describe(error), isinstance(error, UsageError)
        return None

    def explain(self, job: TrackJob) -> TrackOutcome:
        return explain_track(self.pipeline, job)
