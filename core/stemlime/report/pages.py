"""The built-in pages: explanation folders (``explain``, ``check --out``), scans, stems.

Each context function reads a folder's records (:mod:`stemlime.records`); :func:`explanation_card`
is the card every page that shows an explanation reuses (a scan's snippets, a dataset's tracks,
the notebook).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import attrs
import numpy as np

from ..audio import wav_bytes
from .tables import check_rows
from ..records import ExplanationFiles, ExplanationRecord, ScanRecord, StemsRecord, read_explanation, read_scan, read_stems_record
from .render import Media, data_uri, page, render_html
from .charts import count_bars, heatmap, number, weight_bars


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
        if path is None or not self.has(path):
            return None
        audio = self.audio[path]
        subtype = "PCM_16" if np.abs(audio).max(initial=0) <= 1 else "FLOAT"
        return data_uri(wav_bytes(audio, self.sample_rate, subtype), "audio/wav")


def explanation_card(record: ExplanationRecord, media: Any) -> dict[str, Any]:
    """What the card shows of one explanation: its record, and ``media`` turning its files into
    URLs (:class:`~stemlime.report.Media` or :class:`ArrayMedia`)."""
    files = record.files or ExplanationFiles("excerpt.wav", {}, {})
    probabilities = record.outputs == "probabilities"
    components = [c.to_dict() for c in record.components]
    labels = []
    for name, label in record.labels.items():
        weights = {c: w for c, w in label.weights.items() if math.isfinite(w)}
        positive = sorted(((c, w) for c, w in weights.items() if w > 0), key=lambda item: -item[1])[: record.top_k]
        prediction = label.prediction if math.isfinite(label.prediction) else None
        labels.append(
            {
                "name": name,
                "prediction": prediction,
                "score": _finite(label.score),
                "intercept": _finite(label.intercept),
                "local_prediction": _finite(label.local_prediction),
                "rules": label.rules,
                "bar": None if not probabilities or prediction is None else max(0.0, min(100.0, 100.0 * prediction)),
                "explanation": media(files.explanations.get(name)),
                "top": [c for c, _ in positive],
                "bars": weight_bars(weights),
                "heatmap": heatmap(components, weights),
                "exact": _exact_card(record.exact.get(name)),
            }
        )
    players = []
    for c in record.components:
        # a time segment named by its span (uniform's "0.00-0.75s") says it once; bar3, beat2 get their span
        where = "whole excerpt" if c.segment is None else _span(c.start, c.end)
        if c.segment == f"{c.start:.2f}-{c.end:.2f}s" and not c.band:
            where = ""
        if c.band:
            where += f", {c.band[0]:.0f}-{c.band[1]:.0f} Hz"
        players.append({"name": c.name, "where": where, "url": media(files.components.get(c.name))})
    residual = record.stems_residual_db
    return {
        "source": _source_name(record.audio),
        "span": _span(record.start, record.start + record.duration),
        "pipeline": dict(record.pipeline),
        "samples": record.samples,
        "seed": record.seed,
        "distinct": record.distinct_evaluations,
        "auto": bool(record.sampling),
        "stable": record.sampling.get("stable"),
        "residual": None if residual is None else ("inf" if residual == math.inf else number(residual, 1)),
        "kind": "probability" if probabilities else "score",
        "top_k": record.top_k,
        "excerpt": media(files.excerpt),
        "labels": labels,
        "components": players,
        "checks": check_rows(record.checks),
    }


def _exact_card(exact: Any) -> dict[str, Any] | None:
    """The exact Shapley values of a label (an exhaustive explanation), the notes on them and the
    three pairs with the largest interaction index."""
    if exact is None:
        return None
    pairs = sorted(exact.interactions.items(), key=lambda item: -abs(item[1]))[:3]
    values = dict(sorted(exact.values.items(), key=lambda item: -item[1]))
    return {"bars": weight_bars(values), "notes": exact.notes, "pairs": [{"a": a, "b": b, "index": index} for (a, b), index in pairs]}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@page("explanation", "explanation.html")
def explanation_context(folder: Path, media: Media) -> dict[str, Any]:
    card = explanation_card(read_explanation(folder), media)
    return {"title": f"{card['source']} {card['span']}: explanation", "e": card, "json": media(ExplanationRecord.FILE)}


@page("scan", "scan.html")
def scan_context(folder: Path, media: Media) -> dict[str, Any]:
    scan = read_scan(folder)
    gram = _scan_stemgram(folder, scan, media)
    snippets = []
    for snippet in scan.snippets:
        inner = media.under(snippet.explanation)
        files = read_explanation(folder / snippet.explanation).files or ExplanationFiles("excerpt.wav", {}, {})
        top = snippet.top_component
        snippets.append(
            {
                "rank": snippet.rank,
                "span": _span(snippet.start, snippet.end),
                "probability": snippet.probability,
                "top": top,
                "top_weight": None if top is None else snippet.weights.get(top),
                "top_stem": snippet.top_stem,
                "bars": weight_bars(snippet.weights),
                "excerpt": inner(files.excerpt),
                "explanation": inner(files.explanations.get(scan.label)),
                "page": (snippet.explanation.rstrip("/") + "/index.html") if media.has(f"{snippet.explanation}/index.html") else None,
                "exact": gram["frames"].get(snippet.frame) if gram else None,
            }
        )
    return {
        "title": f"{_source_name(scan.audio)}: scan for {scan.label}",
        "source": _source_name(scan.audio),
        "label": scan.label,
        "verdict": scan.verdict,
        "pipeline": scan.pipeline,
        "taggram": media("taggram.png"),
        "hop": scan.hop_seconds,
        "window": scan.window_seconds,
        "frames": len(scan.taggram),
        "snippets": snippets,
        "summary": count_bars(scan.summary),
        "json": media(ScanRecord.FILE),
        "duration": scan.duration if len(scan.taggram) else None,
        "stemgram": gram,
    }


def _scan_stemgram(folder: Path, scan: Any, media: Media) -> dict[str, Any] | None:
    """The scan's stemgram (``scan --stemgram``) as the scan page shows it: its picture and page,
    and per frame the stems' exact values for the scanned label."""
    from ..records import StemgramRecord, read_stemgram

    if not scan.stemgram or not (folder / scan.stemgram / StemgramRecord.FILE).is_file():
        return None
    gram = read_stemgram(folder / scan.stemgram)
    if scan.label not in gram.labels:
        return None
    values = np.asarray(gram.values[scan.label]).reshape(len(gram.times), len(gram.stems))
    inner = media.under(scan.stemgram)
    return {
        "picture": inner(StemgramRecord.picture(gram.labels.index(scan.label))),
        "page": scan.stemgram.rstrip("/") + "/index.html" if media.has(f"{scan.stemgram.rstrip('/')}/index.html") else None,
        "sentences": [s for s in gram.sentences if s.startswith(f"{scan.label}: ")],
        "frames": {frame: ", ".join(f"{stem} {value:+.3f}" for stem, value in zip(gram.stems, row)) for frame, row in enumerate(values)},
    }


@page("stemgram", "stemgram.html")
def stemgram_context(folder: Path, media: Media) -> dict[str, Any]:
    from ..records import StemgramRecord, read_stemgram

    gram = read_stemgram(folder)
    labels = []
    for index, label in enumerate(gram.labels):
        everything = gram.everything[label]
        values = np.asarray(gram.values[label]).reshape(len(gram.times), len(gram.stems))
        frames = [
            {"start": float(t), "value": float(everything[i]), "stems": ", ".join(f"{s} {v:+.3f}" for s, v in zip(gram.stems, values[i]))}
            for i, t in enumerate(gram.times)
        ]
        axis = gram.time_axes.get(label)
        labels.append(
            {
                "name": label,
                "picture": media(StemgramRecord.picture(index)),
                "frames": frames,
                "axis": ",".join(f"{x:.6f}" for x in axis) if axis else None,
                "efficiency": gram.efficiency_error[label],
            }
        )
    return {
        "title": f"{_source_name(gram.audio)}: stemgram",
        "source": _source_name(gram.audio),
        "pipeline": gram.pipeline,
        "method": gram.method,
        "hop": gram.hop_seconds,
        "window": gram.window_seconds,
        "frames": len(gram.times),
        "stems": ", ".join(gram.stems),
        "labels": labels,
        "sentences": gram.sentences,
        "mixture": media(gram.files.get("mixture")) if gram.files.get("mixture") else None,
        "players": [{"name": s, "url": media(gram.files[s]) if s in gram.files else None} for s in gram.stems],
        "json": media("stemgram.json"),
    }


@page("stems", "stems.html")
def stems_context(folder: Path, media: Media) -> dict[str, Any]:
    stems = read_stems_record(folder)
    return {
        "title": f"{folder.name}: stems",
        "rate": stems.sample_rate,
        "stems": [{"name": name, "url": media(file)} for name, file in stems.stems.items()],
        "json": media(StemsRecord.FILE),
    }


def notebook_card(record: Any, audio: Mapping[str, Any], sample_rate: int) -> str:
    """The explanation card of an explanation's record (:class:`stemlime.records.ExplanationRecord`)
    as an HTML fragment, with ``audio`` (relative file -> float32 samples at ``sample_rate`` Hz)
    embedded in every player as a base64 WAV (what ``_repr_html_`` shows in Jupyter)."""
    return render_html("notebook.html", {"e": explanation_card(record, ArrayMedia(audio, sample_rate))})
