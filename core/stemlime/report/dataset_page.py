"""The page of an ``explain-dataset`` folder (kind ``dataset``): the run, the global explanation,
the metadata tables, the failures, and every track with a link to its own page.

It reads what the run wrote (``run.json``, ``global.json``, ``failures.jsonl``) and each track's
result (``tracks/<track>/explanation.json``, or ``scan.json`` for a track explained in
snippets); the tracks' own pages are rendered before this one (nested result folders, see
:func:`stemlime.report.render_report`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..output import marker_kind, safe_name
from . import Media, page
from .charts import grid
from .pages import _read_json, explanation_card, scan_context

TOP_TAGS_SHOWN = 3  # of the five each track's record keeps
GLOBAL_METRIC = "mean_weight"  # the heatmap's cells, as in global.png


def _failures(path: Path) -> list[dict[str, Any]]:
    """failures.jsonl's records (track, error, message); a line that is not JSON is shown as it is."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"track": "?", "error": "unreadable line", "message": line})
    return records


def _counted(entry: Mapping[str, Any]) -> str:
    """How many tracks (and snippets, when they differ) explain a label."""
    tracks, explanations = entry["tracks"], entry.get("explanations", entry["tracks"])
    return f"{tracks}" if explanations == tracks else f"{tracks} · {explanations}"


def global_heatmap(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Labels (rows, with the tracks explaining each) x stems (columns) of the mean weight."""
    labels = summary.get("labels", {})
    if not labels:
        return None
    stems: list[str] = []
    for entry in labels.values():
        stems.extend(stem for stem in entry["components"] if stem not in stems)
    rows = [f"{label} ({_counted(entry)})" for label, entry in labels.items()]
    values = {(row, stem): metrics[GLOBAL_METRIC]
              for row, entry in zip(rows, labels.values()) for stem, metrics in entry["components"].items()}
    return grid(rows, stems, values)


def global_tables(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per label: global.json's numbers of each stem, most important first."""
    tables = []
    for label, entry in summary.get("labels", {}).items():
        ranked = sorted(entry["components"].items(), key=lambda item: -item[1]["importance"])
        tables.append({"label": label, "tracks": entry["tracks"], "explanations": entry.get("explanations", entry["tracks"]),
                       "stems": [{"stem": stem, **metrics} for stem, metrics in ranked]})
    return tables


def metadata_tables(summary: Mapping[str, Any], media: Media) -> list[dict[str, Any]]:
    """Per metadata column: its values (rows) x the top predicted tags (columns), track counts."""
    tables = []
    for column, table in (summary.get("metadata") or {}).items():
        tags: list[str] = []
        for counts in table.values():
            tags.extend(tag for tag in counts if tag not in tags)
        values = {(value, tag): count for value, counts in table.items() for tag, count in counts.items()}
        name = f"metadata-{safe_name(column)}"
        counts = grid(list(table), tags, values, text="{:.0f}", tip="{:.0f} tracks") if table else None
        tables.append({"column": column, "grid": counts, "csv": media.link(f"{name}.csv"), "png": media.link(f"{name}.png")})
    return tables


def _top_tags(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in (record.get("top_tags") or [])[:TOP_TAGS_SHOWN]]


def track_card(folder: Path, name: str, where: str, media: Media) -> dict[str, Any]:
    """What the page lists of one track: its top tags, what explains each label (or the scan's
    verdict), one player (its first label's explanation, or its best snippet's) and its page."""
    inner = media.under(where)
    kind = marker_kind(folder / where)
    card: dict[str, Any] = {"name": name, "page": inner.link("index.html"), "kind": kind, "labels": [], "verdict": None,
                            "player": None, "caption": "", "top_tags": []}
    if kind == "scan":
        scan = scan_context(folder / where, inner)
        record = _read_json(folder / where / "scan.json").get("dataset") or {}
        best = scan["snippets"][0] if scan["snippets"] else None
        card |= {"verdict": scan["verdict"], "label": scan["label"], "snippets": len(scan["snippets"])}
        if best is not None and best["top"]:
            card |= {"player": best["explanation"],
                     "caption": f"best snippet ({best['span']}): {best['top']} explains {scan['label']}"}
    else:
        data = _read_json(folder / where / "explanation.json")
        record = data.get("dataset") or {}
        explained = explanation_card(data, inner)
        card["labels"] = [{"name": label["name"], "prediction": label["prediction"], "top": label["top"]}
                          for label in explained["labels"]]
        first = next((label for label in explained["labels"] if label["top"]), None)
        if first is not None:
            card |= {"player": first["explanation"],
                     "caption": f"the explanation of {first['name']}: {' + '.join(first['top'])}"}
        card["span"] = explained["span"]
    card["top_tags"] = _top_tags(record)
    return card


@page("dataset", "dataset.html")
def dataset_context(folder: Path, media: Media) -> dict[str, Any]:
    run = _read_json(folder / "run.json")
    summary = _read_json(folder / "global.json") if (folder / "global.json").is_file() else {"tracks": 0, "labels": {}}
    settings = run.get("settings", {})
    explain = settings.get("explain", {})
    workers = run.get("workers", [])
    name = Path(run.get("data", folder.name)).name
    tracks = [track_card(folder, track, where, media) for track, where in run.get("results", {}).items()]
    explanations = summary.get("explanations", summary.get("tracks", 0))
    return {
        "title": f"{name}: explained dataset", "name": name, "run": run, "counts": run.get("tracks", {}),
        "pipeline": run.get("pipeline", {}), "explain": explain, "snippets": settings.get("snippets"),
        "top_k": settings.get("top_k"), "workers": len(workers),
        "peak_mb": max((w.get("peak_rss_mb", 0.0) for w in workers), default=None),
        "failures": _failures(folder / "failures.jsonl"), "tracks": tracks,
        "global_tracks": summary.get("tracks", 0), "global_explanations": explanations,
        "heatmap": global_heatmap(summary), "tables": global_tables(summary), "metadata": metadata_tables(summary, media),
        "files": {file: media.link(file) for file in ("global.json", "global.csv", "global.png", "run.json", "failures.jsonl")},
    }
