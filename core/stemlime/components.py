"""Stems x segments -> components: the units that an explanation switches on and off."""

from __future__ import annotations

from typing import Any, Callable

import attrs
import numpy as np


@attrs.frozen
class Excerpt:
    """Where the explained audio comes from: a file (or None for an array) and a time span in seconds."""

    path: str | None
    start: float
    duration: float


@attrs.frozen(eq=False)
class Segment:
    """One part of the excerpt that a component is cut to.

    ``start`` and ``end`` are the nominal boundaries in seconds (relative to the excerpt). A time
    segment has a ``window``: the per-sample gain (float32, excerpt length), and the windows of a
    segmenter's segments sum to one at every sample. A time-frequency block (``tf_grid``) has a
    ``transform`` instead, audio in -> the block's audio out (same length), and the ``band`` it
    keeps as ``(low_hz, high_hz)``; the transforms of a segmenter's segments sum to the identity.
    ``name`` reads like ``0.00-0.75s`` or ``bar3``.
    """

    start: float
    end: float
    window: np.ndarray | None
    name: str
    band: tuple[float, float] | None = None
    transform: Callable[[np.ndarray], np.ndarray] | None = None

    def __attrs_post_init__(self) -> None:
        if (self.window is None) == (self.transform is None):
            raise ValueError(f"segment {self.name!r} needs exactly one of a window or a transform")

    @property
    def is_whole(self) -> bool:
        """True for a plain time window that is one everywhere (the whole excerpt, unchanged)."""
        return self.transform is None and bool(np.all(self.window == 1))

    def apply(self, audio: np.ndarray) -> np.ndarray:
        """This segment's part of ``audio`` (float32, same length)."""
        if self.transform is not None:
            return np.asarray(self.transform(audio), dtype=np.float32)
        return audio * self.window


@attrs.frozen
class Component:
    """One switchable unit: a stem restricted to a segment."""

    name: str  # e.g. "vocals" (one segment) or "vocals@0.00-0.75s"
    stem: str
    segment: str | None  # segment name, None when the whole excerpt is one segment
    start: float  # seconds, relative to the excerpt
    end: float
    band: tuple[float, float] | None = None  # (low, high) Hz for time-frequency blocks, else None

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        # band only where there is one, so that stems x time segments keep their five documented keys
        if self.band is None:
            del out["band"]
        else:
            out["band"] = list(self.band)
        return out


@attrs.frozen(eq=False)
class Components:
    """What an explanation switches: the components of one excerpt and their audio.

    ``audio`` is C (K x T float32 at ``sample_rate`` Hz, the tagger's), one row per component;
    the rows add up to the excerpt as the tagger hears it. ``stems_residual_db`` says how well
    the stems add up to the mix (dB; inf: exactly)."""

    components: list[Component]
    audio: np.ndarray
    sample_rate: int
    excerpt: Excerpt
    stems_residual_db: float


def build_components(stems: dict[str, np.ndarray], segments: list[Segment]) -> tuple[list[Component], np.ndarray]:
    """Cross stems with segments.

    Returns the component descriptions and the component audio ``C`` (K x T float32),
    stem-major: all segments of the first stem, then the next stem. With one segment the
    components keep the plain stem names.
    """
    single = len(segments) == 1
    components, rows = [], []
    for stem, audio in stems.items():
        for segment in segments:
            name = stem if single else f"{stem}@{segment.name}"
            band = None if segment.band is None else (float(segment.band[0]), float(segment.band[1]))
            components.append(Component(name, stem, None if single else segment.name, segment.start, segment.end, band))
            rows.append(audio if single and segment.is_whole else segment.apply(audio))
    return components, np.stack(rows).astype(np.float32, copy=False)


def compose(masks: np.ndarray, component_audio: np.ndarray) -> np.ndarray:
    """Perturbed audio for each mask: ``masks (B x K) @ C (K x T)`` -> (B x T) float32 (one BLAS
    thread: see :func:`stemlime.workers.one_blas_thread`)."""
    from .workers import one_blas_thread

    with one_blas_thread():
        return np.asarray(masks, dtype=np.float32) @ component_audio
