"""Which of the tagger's outputs an explanation explains: names, indices or the top K.

The request is checked against the tagger's labels BEFORE any tagger run (a typo must not
cost a neighbourhood); only "the top K" waits for the unperturbed prediction.
"""

from __future__ import annotations

import difflib
from typing import Sequence

import numpy as np

from .errors import UsageError

DEFAULT_TOP_LABELS = 3


def label_indices(tagger_labels: Sequence[str], labels: Sequence[str | int] | str | int) -> list[int]:
    """Output indices of label names or indices (duplicates dropped, order kept)."""
    if isinstance(labels, (str, int, np.integer)):
        labels = [labels]
    if len(labels) == 0:
        raise UsageError("no label to explain: give at least one label name or index")
    indices = []
    for label in labels:
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= label < len(tagger_labels):
                raise UsageError(
                    f"label index {label} is out of range: the tagger has {len(tagger_labels)} labels (0..{len(tagger_labels) - 1})"
                )
            indices.append(int(label))
        elif label in tagger_labels:
            indices.append(list(tagger_labels).index(str(label)))
        elif isinstance(label, str) and label.isdigit() and int(label) < len(tagger_labels):
            indices.append(int(label))
        else:
            close = difflib.get_close_matches(str(label), list(tagger_labels), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            shown = ", ".join(tagger_labels[:60]) + (f", ... ({len(tagger_labels)} in all)" if len(tagger_labels) > 60 else "")
            raise UsageError(f"the tagger has no label {label!r}.{hint} Its labels: {shown}.")
    return list(dict.fromkeys(indices))


def check_label_request(
    tagger_labels: Sequence[str], labels: Sequence[str | int] | str | int | None = None, top_labels: int | None = None
) -> list[int] | int:
    """Validate a request up front: the indices of named labels, or the number K of top labels
    (default 3, at most the number of labels)."""
    if labels is not None and top_labels is not None:
        raise UsageError("give either labels or top_labels (--label or --top-labels), not both")
    if labels is not None:
        return label_indices(tagger_labels, labels)
    if top_labels is None:
        return min(DEFAULT_TOP_LABELS, len(tagger_labels))
    if isinstance(top_labels, bool) or not isinstance(top_labels, (int, np.integer)) or not 1 <= top_labels <= len(tagger_labels):
        raise UsageError(
            f"top_labels must be a count between 1 and {len(tagger_labels)} (the tagger's labels) (--top-labels), got {top_labels!r}"
        )
    return int(top_labels)


def resolve_labels(
    tagger_labels: Sequence[str],
    reference: np.ndarray,
    labels: Sequence[str | int] | str | int | None = None,
    top_labels: int | None = None,
) -> list[int]:
    """Output indices to explain: given names/indices, or the ``top_labels`` highest outputs
    on the unperturbed excerpt (``reference``), highest first. Default: the top 3."""
    request = check_label_request(tagger_labels, labels, top_labels)
    if isinstance(request, list):
        return request
    return [int(i) for i in np.argsort(reference, kind="stable")[::-1][:request]]
