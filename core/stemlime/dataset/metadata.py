"""Track metadata (a CSV with a ``track`` column) against what the tagger predicted.

    track,genre
    A Classic Education - NightOwl,Singer/Songwriter
    ...

For every other column, a table of the top predicted tag of each track against the column's
value: ``{column: {value: {tag: tracks}}}``, as the audioLIME paper set musicnn's top tags
against MUSDB18's genres to look for a confounder.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import UsageError

TRACK_COLUMN = "track"


def read_metadata(path: str | Path) -> dict[str, dict[str, str]]:
    """``{track: {column: value}}`` from a CSV file with a header row that has a ``track`` column.

    Refused with a UsageError before any track is explained: a missing file, text that is not
    UTF-8, no ``track`` column, no other column, or a track named twice.
    """
    from ..fs import file_problem

    path = Path(path).expanduser()
    problem = file_problem(path, "metadata file")
    if problem:
        raise UsageError(f"{problem}; give a CSV file with a '{TRACK_COLUMN}' column (--metadata)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            columns = list(rows[0].keys()) if rows else []
    except UnicodeDecodeError as error:
        raise UsageError(f"metadata file {path} is not UTF-8 text (byte {error.start}); save it as UTF-8 CSV") from None
    except csv.Error as error:
        raise UsageError(f"metadata file {path} is not readable CSV: {error}") from None
    if TRACK_COLUMN not in columns:
        raise UsageError(
            f"metadata file {path} has no '{TRACK_COLUMN}' column (columns: {', '.join(map(str, columns)) or 'none'}); "
            "its first line names the columns, e.g. 'track,genre', and each track is named as in the dataset "
            "(its folder, or its file without suffix)"
        )
    if len(columns) < 2 or None in columns:
        raise UsageError(
            f"metadata file {path} needs at least one column besides '{TRACK_COLUMN}' (e.g. genre), and a name for every column"
        )
    table: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        track = (row[TRACK_COLUMN] or "").strip()
        if track in table:
            raise UsageError(f"metadata file {path}, line {number}: track {track!r} is listed twice")
        table[track] = {column: (row[column] or "").strip() for column in columns if column != TRACK_COLUMN}
    return table


def top_tag_tables(top_tags: Mapping[str, str], metadata: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """``{column: {value: {tag: tracks}}}`` for the tracks in both ``top_tags`` (track -> its top
    predicted tag) and ``metadata``; values and tags in order of first appearance."""
    columns: list[str] = []
    for values in metadata.values():
        columns.extend(column for column in values if column not in columns)
    tables: dict[str, dict[str, dict[str, int]]] = {column: {} for column in columns}
    for track, tag in top_tags.items():
        for column, value in metadata.get(track, {}).items():
            counts = tables[column].setdefault(value, {})
            counts[tag] = counts.get(tag, 0) + 1
    return tables


def unmatched(tracks: Iterable[str], metadata: Mapping[str, Any]) -> list[str]:
    """The dataset's tracks that the metadata does not list."""
    return [track for track in tracks if track not in metadata]
