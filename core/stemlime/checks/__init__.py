"""Trust checks for explanations: fidelity, stability, sanity (model randomization), complexity.

    explanation = pipeline.explain("song.wav", samples=1000, seed=0, checks="fidelity,stability")
    explanation.checks["stability"]["labels"]["female vocalists"]["kendall_tau"]

or one by one: ``fidelity(pipeline, explanation)``, ``stability(...)``,
``explanation_sanity(...)``, ``explanation_complexity(explanation)``. Every check is seeded
from the explanation's seed, so the same inputs give bit-identical results, and each returns
a JSON-ready dict (what ``explanation.json`` holds under ``checks``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import attrs

from ..config import CHECKS
from ..engine import Engine
from ..errors import UsageError
from ..explanation import Explanation
from ..wording import closest_match
from .common import explanation_engine
from .complexity import complexity, explanation_complexity
from .fidelity import deletion_aopc, fidelity, insertion_aopc
from .sanity import explanation_sanity, randomization_layers
from .stability import samples_for_stability, stability
from ..report.tables import format_checks

if TYPE_CHECKING:
    from ..pipeline import Pipeline


def parse_checks(checks: Sequence[str] | str | None, tagger: Any = None, tagger_name: str = "the tagger") -> list[str]:
    """Check names from ``"fidelity,stability"`` or a list; ``all`` means every check.

    With a ``tagger``, ``sanity`` is refused at once when the tagger cannot randomize itself.
    """
    if not checks:
        return []
    words = checks.split(",") if isinstance(checks, str) else [str(c) for c in checks]
    names: list[str] = []
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


def _optional_whole(value: Any, name: str, minimum: int) -> int | None:
    from ..validators import whole_number

    return None if value is None else whole_number(value, name, minimum=minimum)


@attrs.frozen
class CheckOptions:
    """The options of one trust check, checked when made (before anything is explained):
    ``random_orders`` (fidelity's baseline), ``seeds`` (stability, and sanity's baseline),
    ``target`` and ``max_samples`` (stability: the samples whose Kendall tau reaches the target),
    ``steps`` and ``draws`` (sanity)."""

    seeds: int = 5
    random_orders: int = 20
    target: float | None = None
    max_samples: int = 12800
    steps: int | None = None
    draws: int = 3

    def __attrs_post_init__(self) -> None:
        from ..validators import number, whole_number

        from ..request import BYTES_PER_SAMPLE_AT_LEAST, check_fits_in_memory

        whole_number(self.seeds, "seeds", minimum=2, flag="--seeds")
        whole_number(self.random_orders, "random_orders", minimum=1, flag="--random-orders")
        whole_number(self.max_samples, "max_samples", minimum=1, flag="--max-samples")
        whole_number(self.draws, "draws", minimum=1, flag="--draws")
        # sizes against memory, before anything is explained: each pair of seeds is compared, each
        # random order and draw keeps a ranking, the stability search keeps its samples' masks
        check_fits_in_memory(
            self.seeds * (self.seeds - 1) // 2,
            3 * 8,
            f"seeds={self.seeds} (--seeds)",
            hint="a few are enough: the defaults are 5 seeds, 20 orders, 3 draws",
        )
        check_fits_in_memory(
            self.random_orders,
            8 * 8,
            f"random_orders={self.random_orders} (--random-orders)",
            hint="a few are enough: the defaults are 5 seeds, 20 orders, 3 draws",
        )
        check_fits_in_memory(
            self.draws, 8 * 8, f"draws={self.draws} (--draws)", hint="a few are enough: the defaults are 5 seeds, 20 orders, 3 draws"
        )
        check_fits_in_memory(self.max_samples, BYTES_PER_SAMPLE_AT_LEAST, f"max_samples={self.max_samples} (--max-samples)")
        _optional_whole(self.steps, "steps (--steps)", 1)
        if self.target is not None and not -1 <= number(self.target, "target", flag="--target") <= 1:
            raise UsageError(f"the stability target (--target) is a Kendall tau between -1 and 1, got {self.target}")


def check(
    pipeline: "Pipeline",
    name: str,
    source: Any,
    *,
    options: CheckOptions | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
    **explain: Any,
) -> tuple[Explanation, str, dict[str, Any]]:
    """``stemlime check NAME``: explain ``source`` (``explain``: the options of ``Pipeline.explain``,
    ``out``/``force``/``report`` included), then run the check ``name`` on it with ``options``.
    Returns the explanation (with the check's result under ``checks``, as saved to ``out``), the
    result's key and the result. The check's options, whether the tagger can run it and the
    output folder are checked before anything is explained."""
    if name not in CHECKS:
        raise UsageError(f"unknown check {name!r}{closest_match(name, CHECKS)}. Checks: {', '.join(CHECKS)}.")
    options = options or CheckOptions()
    request = pipeline.request(**explain)
    if name == "sanity":
        layers = randomization_layers(pipeline.tagger, pipeline.specs["tagger"])
        if options.steps is not None and options.steps > len(layers):
            raise UsageError(
                f"sanity steps (--steps) must be between 1 and {len(layers)} (the tagger's layers: "
                f"{', '.join(layers)}), got {options.steps}"
            )
    inputs = pipeline.inputs_of(source)
    request.check_output(inputs)
    explanation = pipeline.explain(
        source, batch_size=batch_size, progress=progress, request=request.replace(checks=None, out=None)
    )  # only the check asked for runs
    key, result = run_check(name, pipeline, explanation, batch_size=batch_size, **attrs.asdict(options))
    explanation = attrs.evolve(explanation, checks={key: result})
    if request.out is not None:
        explanation.save(request.out, k=request.top_k, force=request.force, report=request.report, inputs=inputs)
    return explanation, key, result


def run_check(
    name: str,
    pipeline: Any,
    explanation: Explanation,
    *,
    engine: Engine | None = None,
    batch_size: int | None = None,
    seeds: int = 5,
    random_orders: int = 20,
    target: float | None = None,
    max_samples: int = 12800,
    steps: int | None = None,
    draws: int = 3,
) -> tuple[str, dict[str, Any]]:
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
        return "stability_search", samples_for_stability(
            pipeline, explanation, target, seeds=seeds, most=max_samples, batch_size=batch_size
        )
    if name == "stability":
        return name, stability(pipeline, explanation, seeds=seeds, engine=engine)
    return name, explanation_sanity(pipeline, explanation, steps=steps, seeds=seeds, draws=draws, engine=engine)


def run_checks(
    pipeline: Any, explanation: Explanation, checks: Sequence[str] | str, *, batch_size: int | None = None, **options: Any
) -> dict[str, Any]:
    """The named checks of ``explanation``, made with ``pipeline``'s tagger and surrogate
    (options as :func:`run_check`; ``seeds`` is capped at 3 for sanity).
    One engine is shared, so a mask is evaluated once."""
    engine = explanation_engine(pipeline, explanation, batch_size)
    seeds = options.pop("seeds", 5)
    results = {}
    for name in parse_checks(checks):
        # the sanity baseline needs fewer seeds than the stability check: at most 3
        key, result = run_check(
            name, pipeline, explanation, engine=engine, batch_size=batch_size, seeds=min(seeds, 3) if name == "sanity" else seeds, **options
        )
        results[key] = result
    return results


__all__ = [
    "CHECKS",
    "CheckOptions",
    "check",
    "complexity",
    "deletion_aopc",
    "explanation_complexity",
    "explanation_sanity",
    "fidelity",
    "format_checks",
    "insertion_aopc",
    "parse_checks",
    "randomization_layers",
    "run_check",
    "run_checks",
    "samples_for_stability",
    "stability",
]
