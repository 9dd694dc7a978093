"""The model randomization sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

An explanation method that explains the model must give different explanations for a model
whose weights were replaced by random ones. The tagger's layers are randomized in a cascade
from the top (output) layer down; after each step the same components are explained with the
same masks, and the Spearman rank correlation with the original weights is reported. One
random network is one draw: its explanation may follow the input's loudness with either sign
and happen to agree, so each step is drawn ``draws`` times (seeds ``seed``, ``seed + 1``, ...)
and the median correlation is what passes or fails. The seed-to-seed correlation of the
original model is the baseline: what "unchanged" looks like.

Taggers take part by providing ``randomization_layers`` (layer names, top first) and
``randomized(layers=N, seed=S)``: a new tagger with its top N layers re-initialized (seeded),
the original left untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError
from ..explanation import Explanation
from ..engine import Engine
from ..protocols import optional
from .common import check_seed, explanation_engine, finite_or_none, label_indices
from .stability import agreement, rank_correlation, seed_weights


CONCLUSIVE_BASELINE = 0.9  # seed-to-seed Spearman below this: the explanation is too noisy for the check to tell


def randomization_layers(tagger: Any, tagger_name: str = "the tagger") -> list[str]:
    """The tagger's layer names, top first; UsageError when it cannot randomize itself."""
    if not callable(optional(tagger, "tagger", "randomized")) or not optional(tagger, "tagger", "randomization_layers"):
        raise UsageError(
            f"the sanity check needs a tagger that can randomize itself ({tagger_name} cannot): it must provide "
            "randomization_layers (layer names, top first) and randomized(layers=N, seed=S). The musicnn tagger does."
        )
    return [str(name) for name in tagger.randomization_layers]


def explanation_sanity(
    pipeline: Any,
    explanation: Explanation,
    *,
    steps: int | None = None,
    seeds: int = 3,
    draws: int = 3,
    threshold: float = 0.5,
    seed: int | None = None,
    batch_size: int | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Spearman correlation of the explanation's weights with those of cascading randomized models.

    ``steps`` limits the cascade to the top ``steps`` layers (default: all). Each step is drawn
    ``draws`` times; ``spearman`` is the median over the draws (``None`` when every draw's
    explanation is flat), ``draws`` the single values. A label passes when its median at the
    last step is below ``threshold``. ``baseline`` is the mean seed-to-seed Spearman
    correlation of the original model over ``seeds`` seeds.
    """
    tagger = pipeline.tagger
    layers = randomization_layers(tagger, pipeline.specs.get("tagger", "the tagger"))
    steps = len(layers) if steps is None else int(steps)
    if not 1 <= steps <= len(layers):
        raise UsageError(f"sanity steps must be between 1 and {len(layers)} (the tagger's layers: {', '.join(layers)}), got {steps}")
    if draws < 1:
        raise UsageError(f"sanity draws must be at least 1, got {draws}")
    base_seed = check_seed(explanation) if seed is None else int(seed)
    engine = engine or explanation_engine(pipeline, explanation, batch_size)
    samples = explanation.samples
    originals = seed_weights(engine, explanation, samples, [base_seed + i for i in range(max(2, int(seeds)))])
    names = list(explanation.labels)
    baseline = {name: agreement(originals[:, row])["spearman"] for row, name in enumerate(names)}
    cascade = []
    for step in range(1, steps + 1):
        values: dict[str, list[float | None]] = {name: [] for name in names}
        for draw in range(draws):
            randomized = tagger.randomized(layers=step, seed=base_seed + draw)
            name = f"{pipeline.specs.get('tagger', 'the tagger')} (top {step} layers random, seed {base_seed + draw})"
            weights = engine.with_tagger(randomized, name).weights(samples, base_seed, label_indices(explanation))
            for row, name in enumerate(names):
                values[name].append(finite_or_none(rank_correlation(originals[0, row], weights[row], "spearman")))
        cascade.append({"randomized": layers[:step], "spearman": {name: _median(values[name]) for name in names}, "draws": values})
    last: dict[str, float | None] = cascade[-1]["spearman"]  # type: ignore[assignment]
    # an undefined correlation (the randomized model's explanation is flat) counts as collapsed
    passed = {name: bool((value := last[name]) is None or value < threshold) for name in names}
    # the check can tell only when the unchanged model's explanations agree seed to seed
    conclusive = {name: bool((value := baseline[name]) is None or value >= CONCLUSIVE_BASELINE) for name in names}
    return {
        "layers": layers,
        "threshold": threshold,
        "seed": base_seed,
        "draws": draws,
        "baseline": baseline,
        "steps": cascade,
        "passed": passed,
        "all_passed": bool(np.all(list(passed.values()))),
        "conclusive": conclusive,
    }


def _median(values: list[float | None]) -> float | None:
    """The median of the defined correlations; None when every draw was flat."""
    defined = [value for value in values if value is not None]
    return float(np.median(defined)) if defined else None
