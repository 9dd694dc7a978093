"""Chart geometry for the templates: weight bars, the stems x segments heatmap, colours.

Numbers in, plain dicts out; the templates draw them as inline SVG (no script, works offline).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

POSITIVE = (178, 24, 43)  # weights that raise the label: red (ColorBrewer RdBu, readable by most colour-blind readers)
NEGATIVE = (33, 102, 172)  # weights that lower it: blue
WHITE = (255, 255, 255)


def number(value: Any, digits: int = 3, signed: bool = False) -> str:
    """A number for a page: fixed digits, ``n/a`` for None/NaN, ``inf`` as such."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, str):
        return value
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def colour(value: float | None, scale: float) -> str:
    """A diverging colour for ``value`` in [-scale, scale]: white at 0, red positive, blue negative."""
    if value is None or not math.isfinite(value) or scale <= 0:
        return "#f3f4f6"
    share = min(1.0, abs(value) / scale)
    end = POSITIVE if value > 0 else NEGATIVE
    red, green, blue = (round(w + (e - w) * share) for w, e in zip(WHITE, end))
    return f"#{red:02x}{green:02x}{blue:02x}"


def ink(value: float | None, scale: float) -> str:
    """Text colour that stays readable on :func:`colour`'s fill."""
    dark = value is not None and math.isfinite(value) and scale > 0 and abs(value) / scale > 0.6
    return "#ffffff" if dark else "#111827"


def _scale(values: Sequence[float | None]) -> float:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return max(finite, default=0.0)


def weight_bars(weights: Mapping[str, float]) -> list[dict[str, Any]]:
    """One bar per component, in the explanation's order: ``x``/``width`` in a 0..100 box whose
    middle (50) is zero, the bar's ``fill``, and the weight."""
    scale = _scale(list(weights.values()))
    bars = []
    for name, weight in weights.items():
        length = 0.0 if scale == 0 or not math.isfinite(weight) else 50.0 * abs(weight) / scale
        bars.append(
            {
                "name": name,
                "weight": weight,
                "x": 50.0 if weight >= 0 else 50.0 - length,
                "width": length,
                "fill": colour(weight, scale) if weight else "#9ca3af",
                "positive": weight > 0,
            }
        )
    return bars


HEATMAP_CELL = (64, 30)  # SVG units (pixels at natural size) per segment column and stem row
HEATMAP_LABELS = 130  # width of the row labels


def heatmap(components: Sequence[Mapping[str, Any]], weights: Mapping[str, float]) -> dict[str, Any] | None:
    """Stems (rows) x segments (columns) of one label's weights, or None without time segments.

    ``components`` are explanation.json's component entries; a component the surrogate left
    out has no weight (an empty cell). Time-frequency blocks (``band``) get a row per stem and
    band and a column per time span, as the command line's summary prints them.
    """
    if all(c.get("segment") is None for c in components):
        return None
    rows: list[str] = []
    columns: list[str] = []
    values: dict[tuple[str, str], float | None] = {}
    for c in components:
        band = c.get("band")
        row = c["stem"] if band is None else f"{c['stem']} {band[0]:.0f}-{band[1]:.0f} Hz"
        column = c["segment"] if band is None else f"{c['start']:.2f}-{c['end']:.2f}s"
        rows += [row] if row not in rows else []
        columns += [column] if column not in columns else []
        values[(row, column)] = weights.get(c["name"])
    return grid(rows, columns, values)


ROW_LABEL_CHARACTERS = 23  # the heatmap macro shortens longer row names (18 characters and a leeway of 5)
CHARACTER_WIDTH = 7.2  # SVG units per character of a 12-px row name, a generous mean


def grid(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Mapping[tuple[str, str], float | None],
    text: str = "{:+.3f}",
    tip: str = "{:+.4f}",
    scale: float | None = None,
) -> dict[str, Any]:
    """The geometry of a rows x columns heatmap that the ``card.heatmap`` macro draws: ``values``
    by (row, column), None or missing for an empty cell; ``text`` formats a cell's number and
    ``tip`` its tooltip;
    colours are :func:`colour`'s over [-scale, scale] (default: the largest |value|). Row names
    get as much room as the longest needs (at least ``HEATMAP_LABELS``)."""
    scale = _scale(list(values.values())) if scale is None else scale
    width, height = HEATMAP_CELL
    longest = max((min(len(row), ROW_LABEL_CHARACTERS) for row in rows), default=0)
    label_width = max(HEATMAP_LABELS, round(CHARACTER_WIDTH * longest) + 16)
    cells = []
    for r, row in enumerate(rows):
        for k, column in enumerate(columns):
            value = values.get((row, column))
            cells.append(
                {
                    "x": label_width + k * width,
                    "y": r * height,
                    "fill": colour(value, scale),
                    "ink": ink(value, scale),
                    "text": "·" if value is None else text.format(value),
                    "title": f"{row} @ {column}: {'n/a' if value is None else tip.format(value)}",
                }
            )
    return {
        "rows": [{"name": row, "y": r * height + height / 2} for r, row in enumerate(rows)],
        "columns": [{"name": column, "x": label_width + k * width + width / 2} for k, column in enumerate(columns)],
        "cells": cells,
        "cell_width": width,
        "cell_height": height,
        "label_width": label_width,
        "width": label_width + len(columns) * width,
        "height": len(rows) * height + 34,
    }


def count_bars(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """Bars for counts (a scan's summary): ``width`` in 0..100 of the largest count."""
    most = max(counts.values(), default=0)
    return [{"name": name, "count": count, "width": 0.0 if most == 0 else 100.0 * count / most} for name, count in counts.items()]
