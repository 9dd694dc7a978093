"""The checks of numbers and choices that users give, in one place, with one wording.

Each returns the value as a plain Python value, or raises a UsageError that names what was
given: ``name`` as Python calls it, and ``flag`` as the command line does, when it has one::

    whole_number(batch_size, "batch_size", minimum=1, flag="--batch-size")
        # batch_size must be a whole number of at least 1 (--batch-size), got 0
    positive_number(kernel_width, "kernel_width")
    one_of(device, "device", ("auto", "cpu", "cuda"))

Whole numbers are Python ints or numpy integers (``np.int64`` from an array is fine), never
bools or floats; numbers are any real number except bools, and must be finite.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, TypeVar

from .errors import UsageError

T = TypeVar("T")


def is_whole_number(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _flag(flag: str) -> str:
    return f" ({flag})" if flag else ""


def whole_number(
    value: Any, name: str, minimum: int | None = None, maximum: int | None = None, *, unit: str = "", hint: str = "", flag: str = ""
) -> int:
    """``value`` as an int, if it is a whole number within [minimum, maximum]; else a UsageError."""
    within = (minimum is None or is_whole_number(value) and value >= minimum) and (
        maximum is None or is_whole_number(value) and value <= maximum
    )
    if not is_whole_number(value) or not within:
        if minimum is not None and maximum is not None:
            wanted = f"a whole number from {minimum} to {maximum}"
        elif minimum is not None:
            wanted = f"a whole number of at least {minimum}"
        elif maximum is not None:
            wanted = f"a whole number of at most {maximum}"
        else:
            wanted = "a whole number"
        raise UsageError(f"{name} must be {wanted}{' ' + unit if unit else ''}{_flag(flag)}, got {value!r}{hint}")
    return int(value)


def number(value: Any, name: str, *, unit: str = "", flag: str = "") -> float:
    """``value`` as a finite float; else a UsageError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise UsageError(f"{name} must be a finite number{' of ' + unit if unit else ''}{_flag(flag)}, got {value!r}")
    return float(value)


def positive_number(value: Any, name: str, *, unit: str = "", hint: str = "", flag: str = "") -> float:
    """``value`` as a finite float > 0; else a UsageError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) or value <= 0:
        raise UsageError(f"{name} must be a positive number{' of ' + unit if unit else ''}{hint}{_flag(flag)}, got {value!r}")
    return float(value)


def non_negative_number(value: Any, name: str, *, unit: str = "", flag: str = "") -> float:
    """``value`` as a finite float >= 0; else a UsageError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) or value < 0:
        raise UsageError(f"{name} must be a finite number{' of ' + unit if unit else ''} >= 0{_flag(flag)}, got {value!r}")
    return float(value)


def one_of(value: T, name: str, choices: Iterable[T], *, flag: str = "") -> T:
    """``value`` if it is one of ``choices`` (with the closest choice suggested); else a UsageError."""
    choices = tuple(choices)
    if value not in choices:
        from .wording import closest_match

        raise UsageError(
            f"{name} must be one of {', '.join(map(str, choices))}{_flag(flag)}, got {value!r}"
            + closest_match(str(value), [str(c) for c in choices])
        )
    return value


def boolean(value: Any, name: str, *, flag: str = "") -> bool:
    """``value`` if it is True or False (numpy's bool too); else a UsageError."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise UsageError(f"{name} must be true or false{_flag(flag)}, got {value!r}")
    return bool(value)


__all__ = ["boolean", "is_whole_number", "non_negative_number", "number", "one_of", "positive_number", "whole_number"]
