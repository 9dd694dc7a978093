"""Global explanations: many tracks' local explanations aggregated by stem, per label.

The unit of a global explanation is the stem, not the component: in one track a stem's weight
for a label is the sum of the weights the surrogate gave to that stem's components (its time
segments), which is what switching the whole stem on adds to a linear surrogate's output. So
tracks explained with different segmentations (or none) aggregate alike. A stem counts in a
track only where the surrogate gave at least one of its components a weight (feature selection
may leave a stem out).

The unit of aggregation is the explanation: a track explained once (an excerpt) is one, and a
track explained in snippets (``--snippets best:N``) counts each snippet as one explanation.
For label ``c`` and stem ``j``, over the explanations of ``c`` (each one's stem weight ``w``):

- ``n``: the explanations in which ``j`` has a weight for ``c``;
- ``mean_weight``: the mean of ``w`` (signed: positive means the stem pushes the label up);
- ``mean_abs_weight``: the mean of ``|w|`` (van der Linden et al.'s average importance);
- ``top1_share``: the share of the explanations of ``c`` whose top stem (the largest positive
  ``w``) is ``j``; the shares of a label add up to at most 1 (an explanation without a positive
  weight has no top stem);
- ``importance``: ``sqrt(sum |w|)``, LIME's global importance (Ribeiro et al. 2016, submodular
  pick) per label, ``I_cj``;
- ``homogeneity_importance``: van der Linden et al.'s homogeneity-weighted importance, which
  favours stems that matter for few labels: ``p_cj = I_cj / sum_c' I_c'j`` is how stem ``j``'s
  importance spreads over the labels, ``H_j = -sum_c p_cj log p_cj`` its entropy, and
  ``I_cj * (1 - (H_j - H_min) / (H_max - H_min))`` the weighted importance, with ``H_min`` and
  ``H_max`` over the stems (the log's base cancels out). When every stem has the same entropy
  (one label, say) no stem is more specific than another and the factor is 1.

References: I. van der Linden, H. Haned, E. Kanoulas, "Global Aggregations of Local
Explanations for Black Box models", FACTS-IR workshop at SIGIR 2019 (arXiv:1907.03039); T.
Sotirou, V. Lyberatos, O. M. Mastromichalakis, G. Stamou, "MusicLIME: Explainable Multimodal
Music Understanding" (arXiv:2409.10496, 2024), whose code (the notebook "Global Aggregations of
Local Explanations") computes the same three importances per predicted class. Two differences:
MusicLIME sums only the positive weights of each explanation's top components, here every
weight counts (with its sign in ``mean_weight``); and MusicLIME divides by ``H_max - H_min``
even when it is zero, here the factor is then 1.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from ..records import ExplanationRecord, GlobalExplanation, LabelSummary, StemMetrics

METRICS = ("n", "mean_weight", "mean_abs_weight", "top1_share", "importance", "homogeneity_importance")
ENTROPY_TIE = 1e-12  # entropies closer than this count as equal (no stem more label-specific)


def stem_weights(explanation: ExplanationRecord, label: str) -> dict[str, float]:
    """One track's weight per stem for ``label``: the sum of its components' weights (see the module).

    Undefined weights (NaN in memory, null in ``explanation.json``) are left out.
    """
    stem_of = explanation.stem_of()
    weights: dict[str, float] = {}
    for component, weight in explanation.labels[label].weights.items():
        if math.isfinite(weight):
            stem = stem_of[component]
            weights[stem] = weights.get(stem, 0.0) + float(weight)
    return weights


def _top_stem(weights: Mapping[str, float]) -> str | None:
    positive = [(stem, w) for stem, w in weights.items() if w > 0]
    return max(positive, key=lambda item: item[1])[0] if positive else None


def _homogeneity_factors(importance: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """stem -> 1 - (H_j - H_min) / (H_max - H_min), from the label x stem importances."""
    totals: dict[str, float] = {}
    for stems in importance.values():
        for stem, value in stems.items():
            totals[stem] = totals.get(stem, 0.0) + value
    entropy = {}
    for stem, total in totals.items():
        if total > 0:
            shares = [stems[stem] / total for stems in importance.values() if stems.get(stem, 0.0) > 0]
            entropy[stem] = -sum(p * math.log(p) for p in shares)
    if not entropy:
        return {stem: 0.0 for stem in totals}
    low, high = min(entropy.values()), max(entropy.values())
    factors = {stem: 1.0 if high - low <= ENTROPY_TIE else 1.0 - (h - low) / (high - low) for stem, h in entropy.items()}
    return factors | {stem: 0.0 for stem in totals if stem not in entropy}  # a stem whose weights are all zero


def _track(explanation: ExplanationRecord, position: int) -> Any:
    """Which track an explanation belongs to: its dataset record's ``track`` (every snippet of a
    track names it), else its own position (an explanation on its own is a track)."""
    return explanation.dataset.get("track", ("explanation", position))


def aggregate(explanations: Iterable[ExplanationRecord]) -> GlobalExplanation:
    """The global explanation of many explanations' records, with the metrics of the module's
    docstring over the explanations; ``tracks`` counts the distinct tracks they come from (equal
    to the explanations unless tracks were explained in snippets). Labels are ordered by how
    many explanations explain them (most first, then by name), stems as they first appear."""
    per_label: dict[str, list[dict[str, float]]] = {}
    label_tracks: dict[str, set] = {}
    stem_order: dict[str, None] = {}
    tracks: set = set()
    count = 0
    for explanation in explanations:
        track = _track(explanation, count)
        count += 1
        tracks.add(track)
        for component in explanation.components:
            stem_order.setdefault(component.stem, None)
        for label in explanation.labels:
            per_label.setdefault(label, []).append(stem_weights(explanation, label))
            label_tracks.setdefault(label, set()).add(track)
    importance: dict[str, dict[str, float]] = {}
    partial: dict[str, dict[str, dict[str, float]]] = {}
    for label, explained in per_label.items():
        tops = [_top_stem(weights) for weights in explained]
        components = {}
        for stem in stem_order:
            values = [weights[stem] for weights in explained if stem in weights]
            if not values:
                continue
            absolute = sum(abs(v) for v in values)
            components[stem] = {
                "n": len(values),
                "mean_weight": sum(values) / len(values),
                "mean_abs_weight": absolute / len(values),
                "top1_share": tops.count(stem) / len(explained),
                "importance": math.sqrt(absolute),
            }
        importance[label] = {stem: metrics["importance"] for stem, metrics in components.items()}
        partial[label] = components
    factors = _homogeneity_factors(importance)
    order = sorted(per_label, key=lambda label: (-len(per_label[label]), label))
    labels = {
        label: LabelSummary(
            len(label_tracks[label]),
            len(per_label[label]),
            {
                stem: StemMetrics(homogeneity_importance=factors[stem] * metrics["importance"], **metrics)  # type: ignore[arg-type]
                for stem, metrics in partial[label].items()
            },
        )
        for label in order
    }
    return GlobalExplanation(len(tracks), count, labels)
