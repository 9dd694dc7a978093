"""What to explain and where to write it: one request, validated once, before anything runs.

``Pipeline.explain``, ``stemlime.scan``, ``stemlime.explain_dataset`` and every command of the
command line make an :class:`ExplainRequest` (``pipeline.request(...)``: the arguments given,
else the pipeline file's ``[explain]`` table, else stemlime's defaults) and hand it on. So every
rule about the options lives here, and holds in Python as on the command line: a bad seed, a
``top_k`` of 0 or an output folder that would replace an input is refused before a model loads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs
import numpy as np

from .errors import UsageError
from .validators import boolean, whole_number

DEFAULTS: dict[str, Any] = {
    "labels": None,
    "top_labels": None,
    "start": 0.0,
    "duration": None,
    "samples": 1000,
    "seed": 0,
    "pad": False,
    "checks": None,
}
OUTPUT_DEFAULTS: dict[str, Any] = {"top_k": 1, "out": None, "force": False, "report": False}
MAX_SEED = 2**32 - 1  # numpy's RandomState (audioLIME's draws) takes seeds up to this
SAMPLE_MODES = ("exhaustive", "auto")


def check_span(start: Any, duration: Any) -> tuple[float, float | None]:
    """An excerpt's start (>= 0) and duration (> 0, or None: to the end) as finite seconds."""
    try:
        start = float(start)
        duration = None if duration is None else float(duration)
    except (TypeError, ValueError):
        raise UsageError(f"start and duration are seconds, got start={start!r}, duration={duration!r}") from None
    if not math.isfinite(start) or start < 0:
        raise UsageError(f"start must be a finite number of seconds >= 0 (--start), got {start}")
    if duration is not None and (not math.isfinite(duration) or duration <= 0):
        raise UsageError(f"duration must be a finite number of seconds > 0 (--duration), got {duration}")
    return start, duration


def check_samples(samples: Any) -> int | str:
    """A neighbourhood size: a count >= 1, ``"exhaustive"`` or ``"auto"``."""
    if samples in SAMPLE_MODES:
        return samples
    if isinstance(samples, str) and samples.isdigit():
        samples = int(samples)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise UsageError(f"samples must be a positive count, 'exhaustive' or 'auto' (--samples), got {samples!r}")
    check_fits_in_memory(int(samples), BYTES_PER_SAMPLE_AT_LEAST, f"samples={samples} (--samples)")
    return int(samples)


BYTES_PER_SAMPLE_AT_LEAST = 24  # a mask (8 bytes a component, one at least), its output and its kernel weight
MEMORY_SHARE = 0.5  # the most of this machine's memory one array of a run may ask for


def physical_memory() -> int:
    """Bytes of memory this machine has (0 where the system does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


SAMPLES_HINT = "audioLIME used 16384 samples for 50 components"


def check_fits_in_memory(count: int, bytes_each: int, what: str, hint: str = SAMPLES_HINT) -> None:
    """Refuse, before any work, a size whose arrays (``count`` items of at least ``bytes_each``
    bytes) would not fit in half of this machine's memory."""
    total = physical_memory()
    needed = count * bytes_each
    if total and needed > MEMORY_SHARE * total:
        raise UsageError(
            f"{what} needs at least {_bytes(needed)} of memory for its arrays, and this machine has "
            f"{_bytes(total)}; choose a smaller size" + (f" ({hint})" if hint else "")
        )


def _bytes(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PiB"


def check_seed(seed: Any) -> int:
    """A seed for the neighbourhood's random draws: a whole number from 0 to 2^32 - 1."""
    return whole_number(seed, "seed", 0, MAX_SEED, flag="--seed")


@attrs.frozen
class ExplainRequest:
    """One explanation's settings, checked. Build it with :meth:`make` (or :meth:`stemlime.Pipeline.request`).

    Attributes
    ----------
    labels : tuple of str or int, optional
        Labels to explain, by name or output index (None: the ``top_labels`` most probable).
    top_labels : int, optional
        Number of most probable labels to explain when ``labels`` is None.
    start : float
        Start of the excerpt, in seconds.
    duration : float, optional
        Length of the excerpt, in seconds (None: to the end of the input).
    samples : int or {"exhaustive", "auto"}
        Number of random masks, or every mask, or as many as the ranking needs to be stable.
    seed : int
        Seed of the mask sampler.
    pad : bool
        Zero-pad an excerpt shorter than the tagger's input (else it is refused).
    checks : str or tuple of str, optional
        Trust checks to run (``fidelity``, ``stability``, ``sanity``, ``complexity``).
    top_k : int
        Components summed in each ``explanations/<label>.wav``.
    out : Path, optional
        Where the result is saved (None: nowhere).
    force : bool
        Replace an ``out`` folder that stemlime did not write.
    report : bool
        Also write the listening page ``out/index.html``.
    """

    labels: tuple[str | int, ...] | None = None
    top_labels: int | None = None
    start: float = 0.0
    duration: float | None = None
    samples: int | str = 1000
    seed: int = 0
    pad: bool = False
    checks: str | tuple[str, ...] | None = None
    top_k: int = 1
    out: Path | None = None
    force: bool = False
    report: bool = False

    @classmethod
    def make(cls, defaults: Mapping[str, Any] | None = None, **given: Any) -> "ExplainRequest":
        """The request of the arguments ``given`` (None: not given), else ``defaults`` (a
        pipeline file's ``[explain]``), else stemlime's. A given ``labels`` replaces a default
        ``top_labels`` and the other way round; giving both is an error."""
        known = set(DEFAULTS) | set(OUTPUT_DEFAULTS)
        unknown = set(given) - known
        if unknown:
            raise UsageError(f"unknown explain option(s) {sorted(unknown)}; options: {', '.join(sorted(known))}")
        given = {key: value for key, value in given.items() if value is not None}
        options = dict(DEFAULTS) | {k: v for k, v in (defaults or {}).items() if k in DEFAULTS}
        if "labels" in given and "top_labels" in given:
            raise UsageError("give either labels or top_labels (--label or --top-labels), not both")
        if "labels" in given:
            options["top_labels"] = None
        if "top_labels" in given:
            options["labels"] = None
        options |= given
        if options["labels"] is not None and options["top_labels"] is not None:
            raise UsageError("the pipeline file gives both labels and top_labels under [explain]: keep one")
        start, duration = check_span(options["start"], options["duration"])
        labels = options["labels"]
        if labels is not None and not isinstance(labels, (str, int, np.integer)):
            labels = tuple(labels)
        checks = options["checks"]
        out = OUTPUT_DEFAULTS | {k: v for k, v in given.items() if k in OUTPUT_DEFAULTS}
        if out["report"] and out["out"] is None:
            raise UsageError("report (--report) writes the page of the saved result: give --out DIR too (out= in Python)")
        return cls(
            labels=(labels,) if isinstance(labels, (str, int, np.integer)) else labels,  # type: ignore[arg-type]
            top_labels=options["top_labels"],
            start=start,
            duration=duration,
            samples=check_samples(options["samples"]),
            seed=check_seed(options["seed"]),
            pad=boolean(options["pad"], "pad", flag="--pad"),
            checks=tuple(checks) if isinstance(checks, (list, tuple)) else checks,
            top_k=whole_number(out["top_k"], "top_k", minimum=1, flag="--top-k"),
            out=None if out["out"] is None else Path(out["out"]),
            force=boolean(out["force"], "force", flag="--force"),
            report=boolean(out["report"], "report", flag="--report"),
        )

    def options(self) -> dict[str, Any]:
        """The explain options as a plain dict (what a dataset run's settings record holds)."""
        return {
            "labels": None if self.labels is None else list(self.labels),
            "top_labels": self.top_labels,
            "start": self.start,
            "duration": self.duration,
            "samples": self.samples,
            "seed": self.seed,
            "pad": self.pad,
            "checks": list(self.checks) if isinstance(self.checks, tuple) else self.checks,
        }

    def check_output(self, inputs: Iterable[Any] = ()) -> None:
        """Refuse an output folder this request may not replace (see :func:`stemlime.fs.check_destination`),
        before any model runs; nothing to check without ``out``."""
        if self.out is not None:
            from .fs import check_destination

            check_destination(self.out, inputs, force=self.force)

    def replace(self, **changes: Any) -> "ExplainRequest":
        """A copy with ``changes`` (checked like the original)."""
        return attrs.evolve(self, **changes)


__all__ = ["DEFAULTS", "MAX_SEED", "ExplainRequest", "check_samples", "check_seed", "check_span"]
