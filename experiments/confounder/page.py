"""The page of an ``experiment`` result folder: the confounder experiment (registered with
``stemlime report`` through the ``stemlime_pages`` hook of :mod:`confounder.plugin`).

The folder's files (see experiments/confounder/README.md): ``summary.json`` (accuracy,
predictions, confounder, control), ``run.json`` (settings, training history, timings, and per
separator the explained pieces with their top component), ``pieces.json`` (every piece's
p(piano)), ``examples/<split>/<class>.wav`` and the explanation folders, whose cards this page
reuses. Like the paper's Section 4: the splits with an example of each class to listen to and
what the classifier made of them, then the confounded example with its components and the
explanation to listen to, for each separator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from stemlime.plugin import Media, Page, count_bars, explanation_card, number_text, read_explanation

from .record import ExperimentRecord, read_experiment

CONFOUND = "drums"  # the stem that only ever came with guitar in training
TEMPLATES = Path(__file__).parent / "templates"


def _instruments(pieces: list[Mapping[str, Any]], split: str, label: str) -> str:
    first = next((p for p in pieces if p["split"] == split and p["label"] == label), None)
    return " + ".join(first["instruments"]) if first else "n/a"


def _splits(summary: Mapping[str, Any], pieces: list[Mapping[str, Any]], media: Media) -> list[dict[str, Any]]:
    rows = []
    for split, accuracy in summary["accuracy"].items():
        examples = []
        for label in ("guitar", "piano"):
            first = next((p for p in pieces if p["split"] == split and p["label"] == label), None)
            examples.append(
                {
                    "label": label,
                    "instruments": _instruments(pieces, split, label),
                    "url": media(f"examples/{split}/{label}.wav"),
                    "piece": first["piece"] if first else None,
                    "p_piano": first["p_piano"] if first else None,
                    "called": first["predicted"] if first else None,
                    "accuracy": summary["accuracy_by_class"][split][label],
                    "mean": summary["predictions"][split][label],
                    "count": sum(p["split"] == split and p["label"] == label for p in pieces),
                }
            )
        rows.append({"name": split, "accuracy": accuracy, "examples": examples})
    return rows


def _separator(spec: str, summary: Mapping[str, Any], explained: Mapping[str, Any], folder: Path, media: Media) -> dict[str, Any]:
    confounded = [dict(e, page=_page(e["folder"], media)) for e in explained.get("confounder", [])]
    example = None
    if confounded:
        first = confounded[0]
        card = explanation_card(read_explanation(folder / first["folder"]), media.under(first["folder"]))
        example = {"piece": first["piece"], "page": first["page"], "card": card}
    control = summary["control"][spec]
    counted = summary["confounder"][spec]
    return {
        "spec": spec,
        "explained": counted["explained"],
        "drums_top": counted["drums_top"],
        "drums_count": sum(e["top"] == CONFOUND for e in confounded),
        "confounded": confounded,
        "example": example,
        "control": {
            "explained": control["explained"],
            "bars": count_bars(control["top_counts"]),
            "pieces": [dict(e, page=_page(e["folder"], media)) for e in explained.get("control", [])],
        },
    }


def _page(subfolder: str, media: Media) -> str | None:
    return f"{subfolder}/index.html" if media.has(f"{subfolder}/index.html") else None


def _verdict(summary: Mapping[str, Any], separators: list[dict[str, Any]]) -> str:
    std = summary["accuracy"]["test_std"]
    bad_piano = summary["accuracy_by_class"]["test_bad"]["piano"]
    text = (
        f"On pieces like its training data the classifier is right {number_text(100 * std, 0)} % of the time; "
        f"of the pianos that come with drums it gets {number_text(100 * bad_piano, 0)} % right."
    )
    caught = [f"{s['drums_count']} of {s['explained']} with {s['spec']}" for s in separators if s["explained"]]
    if caught:
        text += " Drums are the top component for \u201cguitar\u201d in " + ", ".join(caught) + "."
    return text


def experiment_context(folder: Path, media: Media) -> dict[str, Any]:
    record: ExperimentRecord = read_experiment(folder)
    summary, run, pieces = record.summary, record.run, record.pieces
    separators = [_separator(spec, summary, explained, folder, media) for spec, explained in run["explanations"].items()]
    settings = run["settings"]
    return {
        "title": "A confounded classifier, caught: guitar vs piano",
        "settings": settings,
        "label": run.get("explained_label", "guitar"),
        "seconds": run.get("explain_seconds"),
        "windows": int(settings["duration"] // run.get("window_seconds", 2.0)),
        "splits": _splits(summary, pieces, media),
        "separators": separators,
        "verdict": _verdict(summary, separators),
        "history": run.get("history", []),
        "timings": run.get("timings_seconds", {}),
        "files": {name: media(name) for name in ("summary.json", "run.json", "pieces.json")},
    }


PAGE = Page("experiment", "experiment.html", experiment_context, templates=TEMPLATES)
