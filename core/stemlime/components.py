"""Stems x segments -> components: the units that an explanation switches on and off."""

from __future__ import annotations

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
    """One time window of the excerpt.

    ``start`` and ``end`` are the nominal boundaries in seconds (relative to the excerpt);
    ``window`` is the per-sample gain (float32, excerpt length). The windows of a segmenter's
    segments sum to one at every sample. ``name`` reads like ``0.00-0.75s`` or ``bar3``.
    """

    start: float
    end: float
    window: np.ndarray
    name: str


@attrs.frozen
class Component:
    """One switchable unit: a stem restricted to a segment."""

    name: str  # e.g. "vocals" (one segment) or "vocals@0.00-0.75s"
    stem: str
    segment: str | None  # segment name, None when the whole excerpt is one segment
    start: float  # seconds, relative to the excerpt
    end: float

    def to_dict(self) -> dict:
        return attrs.asdict(self)


def build_components(stems: dict[str, np.ndarray], segments: list[Segment]) -> tuple[list[Component], np.ndarray]:
    """Cross stems with segments.

    Returns the component descriptions and the component audio ``C`` (K x T float32),
    stem-major: all segments of the first stem, then the next stem.
    """
    single = len(segments) == 1
    components, rows = [], []
    for stem, audio in stems.items():
        for segment in segments:
            name = stem if single else f"{stem}@{segment.name}"
            components.append(Component(name, stem, None if single else segment.name, segment.start, segment.end))
            rows.append(audio if single and np.all(segment.window == 1) else audio * segment.window)
    return components, np.stack(rows).astype(np.float32, copy=False)


def compose(masks: np.ndarray, component_audio: np.ndarray) -> np.ndarray:
    """Perturbed audio for each mask: ``masks (B x K) @ C (K x T)`` -> (B x T) float32."""
    return np.asarray(masks, dtype=np.float32) @ component_audio
