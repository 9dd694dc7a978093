"""The page of an ``explain-dataset`` folder (kind ``dataset``): the run, the global explanation,
the metadata tables, the failures, and every track with a link to its own page.

It reads what the run wrote (``run.json``, ``global.json``, ``failures.jsonl``) and each track's
result (``tracks/<track>/explanation.json``, or ``scan.json`` for a track explained in
snippets); the tracks' own pages are rendered before this one (nested result folders, see
:func:`stemlime.report.render_report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..fs import marker_kind
from ..naming import safe_name
from ..records import (
    DatasetRun,
    GlobalExplanation,
    LabelSummary,
    TrackFailure,
    read_dataset_run,
    read_explanation,
    read_failures,
    read_global_explanation,
    read_scan,
)
from .render import Media, page
from .charts import grid
from .pages import explanation_card, scan_context

TOP_TAGS_SHOWN = 3  # of the five each track's record keeps
GLOBAL_METRIC = "mean_weight"  # the heatmap's cells, as in global.png


def _counted(entry: LabelSummary) -> str:
    """How many tracks (and snippets, when they differ) explain a label."""
    return f"{entry.tracks}" if entry.explanations == entry.tracks else f"{entry.tracks} · {entry.explanations}"


def global_heatmap(summary: GlobalExplanation) -> dict[str, Any] | None:
    """Labels (rows, with the tracks explaining each) x stems (columns) of the mean weight."""
    if not summary.labels:
        return None
    stems: list[str] = []
    for entry in summary.labels.values():
        stems.extend(stem for stem in entry.components if stem not in stems)
    rows = [f"{label} ({_counted(entry)})" for label, entry in summary.labels.items()]
    values = {
        (row, stem): getattr(metrics, GLOBAL_METRIC)
        for row, entry in zip(rows, summary.labels.values())
        for stem, metrics in entry.components.items()
    }
    return grid(rows, stems, values)


def global_tables(summary: GlobalExplanation) -> list[dict[str, Any]]:
    """Per label: global.json's numbers of each stem, most important first."""
    return [
        {
            "label": label,
            "tracks": entry.tracks,
            "explanations": entry.explanations,
            "stems": [{"stem": stem, **metrics.to_json()} for stem, metrics in entry.ranked()],
        }
        for label, entry in summary.labels.items()
    ]


def metadata_tables(summary: GlobalExplanation, media: Media) -> list[dict[str, Any]]:
    """Per metadata column: its values (rows) x the top predicted tags (columns), track counts."""
    tables = []
    for column, table in (summary.metadata or {}).items():
        tags: list[str] = []
        for counts in table.values():
            tags.extend(tag for tag in counts if tag not in tags)
        values = {(value, tag): count for value, counts in table.items() for tag, count in counts.items()}
        name = f"metadata-{safe_name(column)}"
        heat = grid(list(table), tags, values, text="{:.0f}", tip="{:.0f} tracks") if table else None
        tables.append({"column": column, "grid": heat, "csv": media.link(f"{name}.csv"), "png": media.link(f"{name}.png")})
    return tables


def _top_tags(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in (record.get("top_tags") or [])[:TOP_TAGS_SHOWN]]


def track_card(folder: Path, name: str, where: str, media: Media) -> dict[str, Any]:
    """What the page lists of one track: its top tags, what explains each label (or the scan's
    verdict), one player (its first label's explanation, or its best snippet's) and its page."""
    inner = media.under(where)
    kind = marker_kind(folder / where)
    card: dict[str, Any] = {
        "name": name,
        "page": inner.link("index.html"),
        "kind": kind,
        "labels": [],
        "verdict": None,
        "player": None,
        "caption": "",
        "top_tags": [],
    }
    if kind == "scan":
        scan = scan_context(folder / where, inner)
        record = read_scan(folder / where).dataset
        best = scan["snippets"][0] if scan["snippets"] else None
        card |= {"verdict": scan["verdict"], "label": scan["label"], "snippets": len(scan["snippets"])}
        if best is not None and best["top"]:
            card |= {"player": best["explanation"], "caption": f"best snippet ({best['span']}): {best['top']} explains {scan['label']}"}
    else:
        explanation = read_explanation(folder / where)
        record = explanation.dataset
        explained = explanation_card(explanation, inner)
        card["labels"] = [{"name": label["name"], "prediction": label["prediction"], "top": label["top"]} for label in explained["labels"]]
        first = next((label for label in explained["labels"] if label["top"]), None)
        if first is not None:
            card |= {"player": first["explanation"], "caption": f"the explanation of {first['name']}: {' + '.join(first['top'])}"}
        card["span"] = explained["span"]
    card["top_tags"] = _top_tags(record)
    return card


@page("dataset", "dataset.html")
def dataset_context(folder: Path, media: Media) -> dict[str, Any]:
    run: DatasetRun = read_dataset_run(folder)
    has_global = (folder / GlobalExplanation.FILE).is_file()
    summary = read_global_explanation(folder) if has_global else GlobalExplanation(0, 0, {})
    failures: list[TrackFailure] = read_failures(folder / "failures.jsonl")
    name = Path(run.data or folder.name).name
    tracks = [track_card(folder, track, where, media) for track, where in run.results.items()]
    return {
        "title": f"{name}: explained dataset",
        "name": name,
        "run": run,
        "counts": run.tracks,
        "pipeline": run.pipeline,
        "explain": run.settings.get("explain", {}),
        "snippets": run.settings.get("snippets"),
        "top_k": run.settings.get("top_k"),
        "workers": len(run.workers),
        "peak_mb": max((w.get("peak_rss_mb", 0.0) for w in run.workers), default=None),
        "failures": [failure.to_json() for failure in failures],
        "tracks": tracks,
        "global_tracks": summary.tracks,
        "global_explanations": summary.explanations,
        "heatmap": global_heatmap(summary),
        "tables": global_tables(summary),
        "metadata": metadata_tables(summary, media),
        "files": {file: media.link(file) for file in ("global.json", "global.csv", "global.png", "run.json", "failures.jsonl")},
    }
