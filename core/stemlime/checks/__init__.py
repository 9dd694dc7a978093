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

from ..errors import UsageError
from ..explanation import Explanation
from ..registry import closest_match
from .complexity import complexity, explanation_complexity
from .fidelity import deletion_aopc, fidelity, insertion_aopc
from .refit import Refitter
from .sanity import explanation_sanity, randomization_layers
from .stability import samples_for_stability, stability
from .table import format_checks

CHECKS = ("fidelity", "stability", "sanity", "complexity")


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


def run_checks(pipeline: Any, explanation: Explanation, checks: Sequence[str] | str, *, batch_size: int | None = None,
               seeds: int = 5, random_orders: int = 20) -> dict[str, Any]:
    """The named checks of ``explanation``, made with ``pipeline``'s tagger and surrogate.

    One memory of tagger outputs is shared by the checks, so a mask is evaluated once.
    """
    names = parse_checks(checks)
    refitter = Refitter(pipeline, explanation, batch_size=batch_size)
    results: dict[str, Any] = {}
    for name in names:
        if name == "fidelity":
            results[name] = fidelity(pipeline, explanation, random_orders=random_orders, refitter=refitter)
        elif name == "stability":
            results[name] = stability(pipeline, explanation, seeds=seeds, refitter=refitter)
        elif name == "sanity":
            results[name] = explanation_sanity(pipeline, explanation, seeds=min(seeds, 3), refitter=refitter)
        else:
            results[name] = explanation_complexity(explanation)
    return results


__all__ = [
    "CHECKS", "Refitter", "complexity", "deletion_aopc", "explanation_complexity", "explanation_sanity", "fidelity",
    "format_checks", "insertion_aopc", "parse_checks", "randomization_layers", "run_checks", "samples_for_stability", "stability",
]
