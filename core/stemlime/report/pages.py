"""The built-in pages: explanation folders (``explain``, ``check --out``), scans, stems.

Each context function reads a folder's own files; :func:`explanation_card` is the card every
page that shows an explanation reuses (a scan's snippets, a dataset's tracks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import attrs
import numpy as np

from ..audio import wav_bytes
from ..checks.table import check_rows
from . import Media, data_uri, page
from .charts import count_bars, heatmap, number, weight_bars


def _read_json(path: Path) -> dict[str, Any]:
    from ..errors import UsageError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path} ({error}); the result folder is incomplete: run the command that wrote it again") from None


def _span(start: float, end: float) -> str:
    return f"{start:.2f}-{end:.2f} s"


def _source_name(path: str | None) -> str:
    return "an array" if not path else Path(path).name


@attrs.frozen
class ArrayMedia:
    """In-memory audio as ``data:`` URIs, keyed by the paths ``Explanation.files`` gives (the notebook card).

    16-bit PCM, as IPython's ``Audio`` embeds it (half the size of float32 in a notebook), unless
    a sample leaves full scale: then float32, so that nothing is clipped."""

    audio: Mapping[str, np.ndarray]
    sample_rate: int

    def has(self, path: str | None) -> bool:
        return path in self.audio

    def __call__(self, path: str | None) -> str | None:
        if not self.has(path):
            return None
        audio = self.audio[path]
        subtype = "PCM_16" if np.abs(audio).max(initial=0) <= 1 else "FLOAT"
        return data_uri(wav_bytes(audio, self.sample_rate, subtype), "audio/wav")


def explanation_card(data: Mapping[str, Any], media: Any) -> dict[str, Any]:
    """What the card shows of one explanation: ``data`` is explanation.json's content and
    ``media`` turns its files into URLs (:class:`~stemlime.report.Media` or :class:`ArrayMedia`)."""
    files = data.get("files", {})
    top_k = int(data.get("top_k", 1))
    probabilities = data.get("outputs", "probabilities") == "probabilities"
    components = list(data.get("components", []))
    labels = []
    for name, label in data.get("labels", {}).items():
        weights = label.get("weights", {})
        positive = sorted(((c, w) for c, w in weights.items() if w > 0), key=lambda item: -item[1])[:top_k]
        prediction = data.get("prediction", {}).get(name)
        labels.append({
            "name": name, "prediction": prediction, "score": label.get("score"), "intercept": label.get("intercept"),
            "local_prediction": label.get("local_prediction"), "rules": label.get("rules", []),
            "bar": None if not probabilities or prediction is None else max(0.0, min(100.0, 100.0 * prediction)),
            "explanation": media(files.get("explanations", {}).get(name)),
            "top": [c for c, _ in positive], "bars": weight_bars(weights), "heatmap": heatmap(components, weights),
        })
    players = []
    for c in components:
        # a time segment named by its span (uniform's "0.00-0.75s") says it once; bar3, beat2 get their span
        where = "whole excerpt" if c.get("segment") is None else _span(c["start"], c["end"])
        if c.get("segment") == f"{c['start']:.2f}-{c['end']:.2f}s" and not c.get("band"):
            where = ""
        if c.get("band"):
            where += f", {c['band'][0]:.0f}-{c['band'][1]:.0f} Hz"
        players.append({"name": c["name"], "where": where, "url": media(files.get("components", {}).get(c["name"]))})
    start, duration = float(data.get("start", 0.0)), float(data.get("duration", 0.0))
    sampling = data.get("sampling") or {}
    residual = data.get("stems_residual_db")
    return {
        "source": _source_name(data.get("audio")), "span": _span(start, start + duration),
        "pipeline": dict(data.get("pipeline", {})), "samples": data.get("samples"), "seed": data.get("seed"),
        "distinct": data.get("distinct_evaluations"), "auto": bool(sampling), "stable": sampling.get("stable"),
        "residual": None if residual is None else (residual if isinstance(residual, str) else number(residual, 1)),
        "kind": "probability" if probabilities else "score", "top_k": top_k, "excerpt": media(files.get("excerpt")),
        "labels": labels, "components": players, "checks": check_rows(data.get("checks") or {}),
    }


def explanation_card_of(explanation: Any) -> dict[str, Any]:
    """The card of an :class:`~stemlime.explanation.Explanation` in memory, audio as data URIs."""
    from ..explanation import _json_safe

    files = explanation.files()
    audio = {files["excerpt"]: explanation.excerpt_audio()}
    audio |= {files["components"][c.name]: row for c, row in zip(explanation.components, explanation.component_audio)}
    audio |= {files["explanations"][name]: explanation.audio(name, 1) for name in explanation.labels}
    data = _json_safe(explanation.to_dict()) | {"files": files, "top_k": 1}
    return explanation_card(data, ArrayMedia(audio, explanation.sample_rate))


@page("explanation", "explanation.html")
def explanation_context(folder: Path, media: Media) -> dict[str, Any]:
    card = explanation_card(_read_json(folder / "explanation.json"), media)
    return {"title": f"{card['source']} {card['span']}: explanation", "e": card, "json": media("explanation.json")}


@page("scan", "scan.html")
def scan_context(folder: Path, media: Media) -> dict[str, Any]:
    scan = _read_json(folder / "scan.json")
    label = scan["label"]
    snippets = []
    for snippet in scan["snippets"]:
        inner = media.under(snippet["explanation"])
        files = _read_json(folder / snippet["explanation"] / "explanation.json").get("files", {})
        weights = snippet.get("weights", {})
        top = snippet.get("top_component")
        snippets.append({
            "rank": snippet["rank"], "span": _span(snippet["start"], snippet["end"]),
            "probability": snippet["probability"], "top": top, "top_weight": weights.get(top),
            "top_stem": snippet.get("top_stem"), "bars": weight_bars(weights),
            "excerpt": inner(files.get("excerpt")), "explanation": inner(files.get("explanations", {}).get(label)),
            "page": (snippet["explanation"].rstrip("/") + "/index.html") if media.has(f"{snippet['explanation']}/index.html") else None,
        })
    summary = scan.get("summary", {})
    return {
        "title": f"{_source_name(scan.get('audio'))}: scan for {label}", "source": _source_name(scan.get("audio")),
        "label": label, "verdict": scan.get("verdict", ""), "pipeline": scan.get("pipeline", {}),
        "taggram": media("taggram.png"), "hop": scan.get("hop_seconds"), "window": scan.get("window_seconds"),
        "frames": len(scan.get("taggram", {}).get("values", [])), "snippets": snippets,
        "summary": count_bars(summary), "json": media("scan.json"),
        "duration": None if not scan.get("taggram") else len(scan["taggram"]["values"]) * float(scan["hop_seconds"]),
    }


@page("stems", "stems.html")
def stems_context(folder: Path, media: Media) -> dict[str, Any]:
    stems = _read_json(folder / "stems.json")
    return {"title": f"{folder.name}: stems", "rate": stems.get("sample_rate"),
            "stems": [{"name": name, "url": media(file)} for name, file in stems.get("stems", {}).items()],
            "json": media("stems.json")}
