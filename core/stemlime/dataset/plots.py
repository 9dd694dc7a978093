"""Pictures of a dataset run: the labels x stems heatmap of the global explanation, and top
predicted tag against a metadata column. matplotlib (``stemlime[plot]``) is imported when drawing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..records import GlobalExplanation


def has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _heatmap(
    values: np.ndarray, rows: Sequence[str], columns: Sequence[str], path: Path, title: str, colorbar: str, diverging: bool, text: str
) -> Path:
    """Draw ``values`` (rows x columns, NaN = empty cell) with each cell's number written in it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fs import write_atomically

    figure, axis = plt.subplots(figsize=(max(4.5, 1.1 * len(columns) + 3), max(2.5, 0.45 * len(rows) + 1.6)))
    finite = values[np.isfinite(values)]
    if diverging:
        limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
        image = axis.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    else:
        image = axis.imshow(values, cmap="Blues", vmin=0, vmax=float(finite.max()) if finite.size else 1.0, aspect="auto")
    axis.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    axis.set_yticks(range(len(rows)), rows)
    low, high = image.get_clim()
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):  # white on the darkest cells, black elsewhere
            strong = abs(value) > 0.6 * max(abs(low), abs(high)) if diverging else value > low + 0.6 * (high - low)
            axis.text(j, i, text.format(value), ha="center", va="center", fontsize=8, color="white" if strong else "black")
    figure.colorbar(image, ax=axis, label=colorbar)
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=100, format="png"))
    plt.close(figure)
    return path


def plot_global(global_explanation: GlobalExplanation, path: Path, metric: str = "mean_weight") -> Path:
    """``global.png``: labels (rows) x stems (columns), each cell the stem's ``metric`` for the label."""
    labels = list(global_explanation.labels)
    stems: list[str] = []
    for summary in global_explanation.labels.values():
        stems.extend(stem for stem in summary.components if stem not in stems)
    values = np.full((len(labels), len(stems)), np.nan)
    for i, label in enumerate(labels):
        for j, stem in enumerate(stems):
            metrics = global_explanation.labels[label].components.get(stem)
            if metrics is not None:
                values[i, j] = getattr(metrics, metric)
    tracks, explanations = global_explanation.tracks, global_explanation.explanations
    if explanations == tracks:
        rows = [f"{label} ({global_explanation.labels[label].tracks})" for label in labels]
        over, unit = f"{tracks} tracks", "tracks"
    else:  # tracks explained in snippets: each snippet is one explanation
        rows = [f"{label} ({global_explanation.labels[label].explanations})" for label in labels]
        over, unit = f"{tracks} tracks ({explanations} snippets)", "snippets"
    title = f"{metric.replace('_', ' ')} of each stem over {over}; rows: label ({unit} explaining it)"
    return _heatmap(values, rows, stems, path, title, metric.replace("_", " "), diverging=True, text="{:+.3f}")


def plot_top_tags(table: Mapping[str, Mapping[str, int]], column: str, path: Path) -> Path:
    """Top predicted tag (columns) against the values of a metadata ``column`` (rows): track counts."""
    values = list(table)
    tags: list[str] = []
    for counts in table.values():
        tags.extend(tag for tag in counts if tag not in tags)
    grid = np.array([[table[value].get(tag, 0) for tag in tags] for value in values], dtype=float)
    grid[grid == 0] = np.nan
    return _heatmap(grid, values, tags, path, f"top predicted tag by {column} (tracks)", "tracks", diverging=False, text="{:.0f}")
