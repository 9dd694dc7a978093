"""Taggrams: the tagger's output over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .engine import run_tagger
from .protocols import optional


def taggram(tagger: Any, audio: np.ndarray) -> tuple[np.ndarray, float]:
    """(P x L probabilities, hop in seconds) for mono ``audio`` at the tagger's rate.

    Uses the tagger's own ``taggram(audio)`` when it has one (with ``taggram_hop_seconds``);
    otherwise cuts the audio into consecutive ``input_seconds`` windows (the whole audio when
    the tagger takes any length).
    """
    own = optional(tagger, "tagger", "taggram")
    if own is not None:
        hop = optional(tagger, "tagger", "taggram_hop_seconds") or tagger.input_seconds
        return np.asarray(own(audio)), float(hop)
    if not getattr(tagger, "input_seconds", None):
        return run_tagger(tagger, audio[None, :]), len(audio) / tagger.sample_rate
    patches, _ = cut_windows(audio[None, :], int(round(tagger.input_seconds * tagger.sample_rate)))
    return run_tagger(tagger, patches), float(tagger.input_seconds)


def cut_windows(batch: np.ndarray, window: int | None, pad_short: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cut each row of a ``(B, samples)`` batch into a model's fixed-length windows (musicnn's rule).

    Windows of ``window`` samples start at ``0, window, 2 * window, ...`` while a full window
    fits; samples after the last full window are dropped, as musicnn drops frames after its last
    3-s patch. A row shorter than one window is one window of its own (zero-padded to ``window``
    when ``pad_short``, else left as it is, for models whose feature extractor pads). ``window``
    None: every row is one window. Returns the ``(W, window)`` windows and ``bounds`` (B + 1,),
    so that row ``b``'s windows are ``windows[bounds[b]:bounds[b + 1]]``: average each row's
    outputs with :func:`mean_over_windows`.
    """
    batch = np.asarray(batch, dtype=np.float32)
    length = batch.shape[1]
    if window is None or length == window:
        return batch, np.arange(len(batch) + 1)
    if length < window:
        windows = np.pad(batch, ((0, 0), (0, window - length))) if pad_short else batch
        return windows, np.arange(len(batch) + 1)
    count = length // window
    windows = batch[:, : count * window].reshape(len(batch) * count, window)
    return windows, np.arange(len(batch) + 1) * count


def mean_over_windows(outputs: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``(W, L)`` per-window outputs -> ``(B, L)``: each input's mean over its windows (``bounds`` from :func:`cut_windows`)."""
    return np.stack([outputs[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])


PLOT_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
MAX_PLOT_INCHES = 20  # a 10-minute taggram (200 frames) stays 2000 px wide at 100 dpi


def check_plot_path(path: str | Path) -> Path:
    """Refuse a picture file name whose format cannot be drawn (before any tagger run)."""
    path = Path(path)
    if path.suffix.lower() not in PLOT_FORMATS:
        from .errors import UsageError

        raise UsageError(f"cannot draw a taggram into {path}: give a file name ending in {', '.join(PLOT_FORMATS)}")
    if path.is_dir():
        from .errors import UsageError

        raise UsageError(f"cannot draw a taggram into {path}: it is a folder")
    return path


def plot_taggram(
    values: np.ndarray,
    labels: list[str],
    hop_seconds: float,
    path: str | Path,
    threshold: float = 0.3,
    title: str = "",
    marks: Sequence[tuple[float, float]] = (),
    keep: Sequence[int] = (),
    dpi: int = 100,
) -> Path:
    """Draw the taggram (time on x, tags with any value above ``threshold`` on y) as an image.

    ``keep``: output indices shown whatever their values (a scan's label, drawn at the top);
    ``marks``: time spans (start, end seconds) outlined and numbered from 1 (a scan's snippets).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches
    import matplotlib.pyplot as plt

    shown = [i for i in range(values.shape[1]) if values[:, i].max() > threshold and i not in keep]
    note = f"tags above {threshold}"
    if not shown and not keep:
        shown = list(np.argsort(values.max(axis=0))[::-1][:5])
        note = f"no tag above {threshold}; top 5 shown"
    if keep:
        note = f"{', '.join(labels[i] for i in keep)} and the tags above {threshold}"
    shown += [int(i) for i in keep][::-1]  # the kept rows on top (origin="lower")
    figure, axis = plt.subplots(figsize=(min(MAX_PLOT_INCHES, max(6, values.shape[0] * 0.25 + 3)), 0.3 * len(shown) + 1.5))
    axis.imshow(
        values[:, shown].T,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        cmap="Blues",
        vmin=0,
        vmax=1,
        extent=(0, values.shape[0] * hop_seconds, -0.5, len(shown) - 0.5),
    )
    for number, (start, end) in enumerate(marks, 1):
        axis.add_patch(matplotlib.patches.Rectangle((start, -0.5), end - start, len(shown), fill=False, edgecolor="#d95f02", linewidth=2))
        axis.annotate(
            str(number),
            (start + (end - start) / 2, len(shown) - 0.5),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            color="#d95f02",
            fontweight="bold",
            annotation_clip=False,
        )
    axis.set_yticks(range(len(shown)), [labels[i] for i in shown])
    axis.set_xlabel("time (s)")
    heading = f"{title} ({note})".strip()
    if len(heading) > figure.get_figwidth() * 9:  # about the characters that fit across the figure at this size
        heading = f"{title}\n({note})".strip()
    axis.set_title(heading, pad=16 if marks else 6)
    figure.tight_layout()
    path = check_plot_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
