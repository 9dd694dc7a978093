"""Trust checks for explanations: fidelity, stability, sanity (model randomization), complexity.

    explanation = pipeline.explain("song.wav", samples=1000, seed=0, checks="fidelity,stability")
    explanation.checks["stability"]["labels"]["female vocalists"]["kendall_tau"]

or one by one: ``fidelity(pipeline, explanation)``, ``stability(...)``,
``explanation_sanity(...)``, ``explanation_complexity(explanation)``. Every check is seeded
from the explanation's seed, so the same inputs give bit-identical results, and each returns
a JSON-ready dict (what ``explanation.json`` holds under ``checks``).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..config import CHECKS
from ..engine import Engine
from ..errors import UsageError
from ..explanation import Explanation
from ..registry import closest_match
from .common import explanation_engine
from .complexity import complexity, explanation_complexity
from .fidelity import deletion_aopc, fidelity, insertion_aopc
from .sanity import explanation_sanity, randomization_layers
from .stability import samples_for_stability, stability
from .table import format_checks



def parse_checks(checks: Sequence[str] | str | None, tagger: Any = None, tagger_name: str = "the tagger") -> list[str]:
    """Check names from ``"fidelity,stability"`` or a list; ``all`` means every check.

    With a ``tagger``, ``sanity`` is refused at once when the tagger cannot randomize itself.
    """
    if not checks:
        return []
    words = checks.split(",") if isinstance(checks, str) else [str(c) for c in checks]
    names = []
    for word in (w.strip() for w in words):
        if not word:
            continue
        if word == "all":
            names.extend(CHECKS)
        elif word in CHECKS:
            names.append(word)
        else:
            raise UsageError(f"unknown check {word!r}{closest_match(word, CHECKS)}. Checks: {', '.join(CHECKS)}, all.")
    names = list(dict.fromkeys(names))
    if tagger is not None and "sanity" in names:
        randomization_layers(tagger, tagger_name)
    return names


def run_check(name: str, pipeline: Any, explanation: Explanation, *, engine: Engine | None = None,
              batch_size: int | None = None, seeds: int = 5, random_orders: int = 20, target: float | None = None,
              max_samples: int = 12800, steps: int | None = None, draws: int = 3) -> tuple[str, dict[str, Any]]:
    """One trust check of ``explanation``: ``(key, result)``, the key under which the result is
    saved (``stability`` with a ``target`` is the sample search ``stability_search``).

    Options: ``random_orders`` (fidelity), ``seeds`` (stability; sanity's baseline uses at most
    3), ``target``/``max_samples`` (stability: find the samples whose Kendall tau reaches the
    target), ``steps``/``draws`` (sanity).
    """
    if name not in CHECKS:
        raise UsageError(f"unknown check {name!r}{closest_match(name, CHECKS)}. Checks: {', '.join(CHECKS)}.")
    if name == "complexity":
        return name, explanation_complexity(explanation)
    engine = engine or explanation_engine(pipeline, explanation, batch_size)
    if name == "fidelity":
        return name, fidelity(pipeline, explanation, random_orders=random_orders, engine=engine)
    if name == "stability" and target is not None:
        return "stability_search", samples_for_stability(pipeline, explanation, target, seeds=seeds, most=max_samples,
                                                         batch_size=batch_size)
    if name == "stability":
        return name, stability(pipeline, explanation, seeds=seeds, engine=engine)
    return name, explanation_sanity(pipeline, explanation, steps=steps, seeds=seeds, draws=draws, engine=engine)


def run_checks(pipeline: Any, explanation: Explanation, checks: Sequence[str] | str, *, batch_size: int | None = None,
               **options: Any) -> dict[str, Any]:
    """The named checks of ``explanation``, made with ``pipeline``'s tagger and surrogate
    (options as :func:`run_check`; ``seeds`` is capped at 3 for sanity).
    One engine is shared, so a mask is evaluated once."""
    engine = explanation_engine(pipeline, explanation, batch_size)
    seeds = options.pop("seeds", 5)
    results = {}
    for name in parse_checks(checks):
        # the sanity baseline needs fewer seeds than the stability check: at most 3
        key, result = run_check(name, pipeline, explanation, engine=engine, batch_size=batch_size,
                                seeds=min(seeds, 3) if name == "sanity" else seeds, **options)
        results[key] = result
    return results


__all__ = [
    "CHECKS", "complexity", "deletion_aopc", "explanation_complexity", "explanation_sanity", "fidelity",
    "format_checks", "insertion_aopc", "parse_checks", "randomization_layers", "run_check", "run_checks", "samples_for_stability", "stability",
]
