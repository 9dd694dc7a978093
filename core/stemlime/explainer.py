"""The explainer: run the tagger on the neighbourhood, then fit a surrogate per label.

The tagger is the expensive step, so it runs once per DISTINCT mask, in batches, and the
audio of each batch is one matrix product of masks and component audio.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import numpy as np

from .components import compose
from .errors import StemlimeError, UsageError
from .explanation import Neighbourhood
from .lime import cosine_distances_to_all_ones, kernel
from .surrogate import SurrogateFit

EMPTY_MASK_MODES = ("audiolime", "zeros")


def _progress(total: int, enabled: bool | None):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, unit="mask", desc="tagger", disable=not enabled, leave=False)


def run_tagger(tagger: Any, audio: np.ndarray) -> np.ndarray:
    """``tagger.predict`` with its output checked: (B, L) finite probabilities as float64."""
    out = np.asarray(tagger.predict(audio))
    if out.ndim != 2 or out.shape[0] != audio.shape[0]:
        raise StemlimeError(f"the tagger returned an array of shape {out.shape} for {audio.shape[0]} inputs; expected (batch, labels)")
    if not np.all(np.isfinite(out)):
        raise StemlimeError("the tagger returned NaN or infinite outputs")
    return out.astype(np.float64)


def evaluate_neighbourhood(
    masks: np.ndarray,
    component_audio: np.ndarray,
    tagger: Any,
    batch_size: int = 32,
    kernel_width: float = 0.25,
    empty_mask: str = "audiolime",
    progress: bool | None = None,
) -> Neighbourhood:
    """Tagger outputs for every mask, computed once per distinct mask, with LIME's kernel weights.

    ``empty_mask`` decides what the tagger hears when every component is off: ``audiolime``
    a constant signal at the minimum sample of the full composition (as audioLIME does),
    ``zeros`` digital silence.
    """
    predictions, distinct = tagger_outputs(masks, component_audio, tagger, batch_size, empty_mask, progress)
    return weighted_neighbourhood(masks, predictions, kernel_width, distinct)


def weighted_neighbourhood(
    masks: np.ndarray, predictions: np.ndarray, kernel_width: float = 0.25, distinct_evaluations: int = 0
) -> Neighbourhood:
    """Masks and their tagger outputs with the cosine distances and kernel weights a surrogate is fitted with."""
    distances = cosine_distances_to_all_ones(masks)
    return Neighbourhood(masks, predictions, distances, kernel(distances, kernel_width), distinct_evaluations)


def tagger_outputs(
    masks: np.ndarray,
    component_audio: np.ndarray,
    tagger: Any,
    batch_size: int = 32,
    empty_mask: str = "audiolime",
    progress: bool | None = None,
) -> tuple[np.ndarray, int]:
    """(N, L) tagger outputs for (N, K) masks and the number of tagger runs (distinct masks)."""
    if empty_mask not in EMPTY_MASK_MODES:
        raise UsageError(f"empty_mask must be one of {', '.join(EMPTY_MASK_MODES)}, got {empty_mask!r}")
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}")
    distinct, inverse = np.unique(masks, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    empty_value = 0.0 if empty_mask == "zeros" else float(component_audio.sum(axis=0).min())
    outputs = []
    with _progress(len(distinct), progress) as bar:
        for first in range(0, len(distinct), batch_size):
            batch = distinct[first:first + batch_size]
            audio = compose(batch, component_audio)
            audio[~batch.any(axis=1)] = empty_value
            outputs.append(run_tagger(tagger, audio))
            bar.update(len(batch))
    return np.concatenate(outputs)[inverse], len(distinct)


def resolve_labels(
    tagger_labels: Sequence[str],
    reference: np.ndarray,
    labels: Sequence[str | int] | str | int | None = None,
    top_labels: int | None = None,
) -> list[int]:
    """Output indices to explain: given names/indices, or the ``top_labels`` most probable
    on the unperturbed excerpt (``reference``), highest first. Default: the top 3."""
    if labels is not None and top_labels is not None:
        raise UsageError("give either labels or top_labels, not both")
    if labels is None:
        k = min(3, len(reference)) if top_labels is None else int(top_labels)
        if not 1 <= k <= len(reference):
            raise UsageError(f"top_labels must be between 1 and {len(reference)}, got {top_labels}")
        return [int(i) for i in np.argsort(reference, kind="stable")[::-1][:k]]
    if isinstance(labels, (str, int)):
        labels = [labels]
    indices = []
    for label in labels:
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= label < len(tagger_labels):
                raise UsageError(f"label index {label} is out of range: the tagger has {len(tagger_labels)} labels (0..{len(tagger_labels) - 1})")
            indices.append(int(label))
        elif label in tagger_labels:
            indices.append(list(tagger_labels).index(label))
        elif isinstance(label, str) and label.isdigit() and int(label) < len(tagger_labels):
            indices.append(int(label))
        else:
            import difflib

            close = difflib.get_close_matches(str(label), list(tagger_labels), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UsageError(f"the tagger has no label {label!r}.{hint} Its labels: {', '.join(tagger_labels)}.")
    return list(dict.fromkeys(indices))


def fit_surrogates(neighbourhood: Neighbourhood, label_indices: Sequence[int], surrogate: Any) -> dict[int, SurrogateFit]:
    """One surrogate fit per explained label."""
    return {
        index: surrogate.fit(neighbourhood.masks, neighbourhood.predictions[:, index], neighbourhood.kernel_weights)
        for index in label_indices
    }
