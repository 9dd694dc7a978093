"""The experiment's record: ``summary.json``, ``pieces.json`` and ``run.json`` of a result folder.

``summary.json`` holds exactly the numbers other tools read (``SUMMARY_KEYS``) and
``pieces.json`` is a list (one entry per piece), so the record's schema version lives in
``run.json`` and versions all three. A folder written before records existed (no version) reads
as version 1, the same layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import attrs

from stemlime.plugin import UsageError, read_json, write_json

SCHEMA = "schema"


@attrs.frozen
class ExperimentRecord:
    """What a run of the experiment found (``summary``), every piece (``pieces``) and how it ran (``run``)."""

    VERSION: ClassVar[int] = 2

    summary: dict[str, Any]  # accuracy, accuracy_by_class, predictions, confounder, control
    pieces: list[dict[str, Any]]  # piece, split, label, seed, p_piano, windows, predicted, correct, ...
    run: dict[str, Any]  # settings, seeds, timings, history, explanations per separator, versions


def write_experiment(folder: str | Path, record: ExperimentRecord) -> None:
    folder = Path(folder)
    write_json(folder / "summary.json", record.summary)
    write_json(folder / "pieces.json", record.pieces)
    write_json(folder / "run.json", {SCHEMA: record.VERSION} | record.run)


def read_experiment(folder: str | Path) -> ExperimentRecord:
    """The record of an experiment folder; a UsageError that says what to do when it is incomplete
    or from a newer version."""
    folder = Path(folder)
    run = read_json(folder / "run.json")
    version = run.pop(SCHEMA, 1) if isinstance(run, dict) else None
    if not isinstance(version, int) or version > ExperimentRecord.VERSION:
        raise UsageError(
            f"{folder / 'run.json'} has schema {version!r}, which this version of the experiment cannot read; "
            "run the experiment again, or upgrade"
        )
    return ExperimentRecord(read_json(folder / "summary.json"), read_json(folder / "pieces.json"), run)
