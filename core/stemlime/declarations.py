"""What a plugin declares: factories of components, their options, and command-line commands.

A component's options are declared once, as the fields of an attrs class (:func:`option`);
:func:`options_of` turns them into the :class:`Option` list of its :class:`Factory`, which
``stemlime plugins`` lists and the registry checks specs against.
"""

from __future__ import annotations

import math

from pathlib import Path
from typing import Any, Callable, Iterable

import attrs

from .errors import UsageError
from .wording import closest_match

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _to_finite_float(value: Any) -> float:
    """A float option's value: any finite number (inf and nan would reach the numerics unchecked)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "int": lambda v: int(v) if not isinstance(v, float) or v.is_integer() else int("x"),
    "float": _to_finite_float,
    "bool": _to_bool,
    "path": lambda v: Path(str(v)).expanduser() if str(v).strip() else int("empty path"),
}


@attrs.frozen
class Option:
    """One option a factory takes, as ``stemlime plugins`` lists it and a spec gives it (``name=value``).

    Attributes
    ----------
    name : str
        The option's name in a spec.
    description : str
        One line for ``stemlime plugins``.
    type : {"str", "int", "float", "bool", "path"}, default "str"
        How a spec's text is converted.
    default : object, optional
        The value when the spec does not give one.
    choices : tuple, optional
        The allowed values (None: any value of the type).
    """

    name: str
    description: str
    type: str = "str"
    default: Any = None
    choices: tuple[Any, ...] | None = None

    def convert(self, value: Any, owner: str) -> Any:
        try:
            converted = _CONVERTERS[self.type](value)
        except (ValueError, TypeError):
            finite = " (a finite number)" if self.type == "float" else ""
            raise UsageError(f"{owner}: option {self.name}={value!r} is not a valid {self.type}{finite} ({self.description})") from None
        if self.choices is not None and converted not in self.choices:
            raise UsageError(
                f"{owner}: option {self.name}={value!r} is not one of {', '.join(map(str, self.choices))}"
                + closest_match(str(value), [str(c) for c in self.choices])
            )
        return converted

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "default": _jsonable(self.default), "description": self.description}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out


@attrs.frozen
class Factory:
    """How to build one named separator/segmenter/tagger/surrogate; registered through a hook.

    Attributes
    ----------
    name : str
        The name in a spec (``NAME[:VARIANT][,OPTION=VALUE...]``).
    description : str
        One line for ``stemlime plugins``.
    build : callable
        ``build(variant, **options)`` returns the object; it is called with the variant (or the
        default variant, or None) and the converted options that the user gave.
    variants : tuple of str, default ()
        The variants it knows (e.g. ``("2stems", "4stems", "5stems")``).
    default_variant : str, optional
        The variant of a spec that names none.
    options : tuple of Option, default ()
        The options it takes (:func:`options_of` builds them from an options class).
    package : str
        The distribution that provides it; filled in by the registry.
    """

    name: str
    description: str
    build: Callable[..., Any]
    variants: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    default_variant: str | None = None
    options: tuple[Option, ...] = attrs.field(default=(), converter=tuple)
    package: str = ""  # the distribution that provides it; filled in by the registry

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@attrs.frozen
class Command:
    """A command-line command that a plugin adds: ``stemlime NAME ...``.

    Like the core's commands, it raises ``UsageError`` for bad arguments (exit status 2) and
    ``StemlimeError`` for bad files or missing tools (exit status 1). Both callables should import
    heavy code lazily: every ``stemlime`` invocation collects the commands.

    Attributes
    ----------
    name : str
        The command's name (``stemlime NAME``); a core command of the same name wins.
    help : str
        One line for ``stemlime --help``.
    add_arguments : callable
        ``add_arguments(parser)`` declares its arguments on an ``argparse.ArgumentParser``.
    run : callable
        ``run(args)`` carries it out with the parsed ``argparse.Namespace``.
    package : str
        The distribution that provides it; filled in by the registry.
    """

    name: str
    help: str
    add_arguments: Callable[[Any], None]
    run: Callable[[Any], None]
    package: str = ""  # the distribution that provides it; filled in by the registry


OPTION_METADATA = "stemlime.option"  # the key of an option field's metadata: (description, type, choices)
_TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", Path: "path"}


def option(
    default: Any,
    description: str,
    *,
    type: str | None = None,
    choices: Iterable[Any] | None = None,
    validator: Callable[[Any, Any, Any], None] | None = None,
    converter: Callable[[Any], Any] | None = None,
) -> Any:
    """A field of a component's options class (an attrs class), declared once for Python and the CLI.

    :func:`options_of` turns the class's option fields into the factory's :class:`Option`
    list::

        @attrs.frozen
        class RidgeSurrogate:
            alpha: float = option(1.0, "Ridge regularization strength")

        Factory("ridge", "LIME's local model ...", build=..., options=options_of(RidgeSurrogate))

    Parameters
    ----------
    default : object
        The field's default.
    description : str
        The one line ``stemlime plugins`` shows.
    type : {"str", "int", "float", "bool", "path"}, optional
        The option's type for the command line; by default from the field's annotation.
    choices : iterable, optional
        The allowed values, checked whenever the class is made (in Python too).
    validator : callable, optional
        An attrs validator ``(instance, attribute, value)``, run after the choices check.
    converter : callable, optional
        An attrs converter applied to the value first.

    Returns
    -------
    attrs field
        To assign to the class attribute.
    """
    choices = None if choices is None else tuple(choices)
    validators = [] if validator is None else [validator]
    if choices is not None:

        def in_choices(instance: Any, attribute: Any, value: Any) -> None:
            if value not in choices:
                raise UsageError(
                    f"{type_name_of(instance)}: option {attribute.name}={value!r} is not one of "
                    f"{', '.join(map(str, choices))}" + closest_match(str(value), [str(c) for c in choices])
                )

        validators.insert(0, in_choices)
    return attrs.field(
        default=default, validator=validators or None, converter=converter, metadata={OPTION_METADATA: (description, type, choices)}
    )


def type_name_of(instance: Any) -> str:
    """How messages name a component: its ``owner`` attribute, else its class name in lower case."""
    return str(getattr(instance, "owner", type(instance).__name__.lower()))


def _type_name(annotation: Any) -> str:
    """``int``, ``float``, ``str``, ``bool`` or ``path`` for an option field's annotation (``int | None``: int)."""
    import typing

    candidates = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    for candidate in candidates:
        if candidate in _TYPE_NAMES:
            return _TYPE_NAMES[candidate]
    return "str"


def options_of(cls: type) -> tuple[Option, ...]:
    """The factory's option list, from an options class.

    Parameters
    ----------
    cls : type
        An attrs class whose option fields were declared with :func:`option`.

    Returns
    -------
    tuple of Option
        The :class:`Option` of each option field, in the class's order.
    """
    import typing

    hints = typing.get_type_hints(cls)
    found = []
    for field in attrs.fields(cls):
        if OPTION_METADATA not in field.metadata:
            continue
        description, type_name, choices = field.metadata[OPTION_METADATA]
        found.append(Option(field.name, description, type_name or _type_name(hints[field.name]), field.default, choices))
    return tuple(found)


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


__all__ = ["OPTION_METADATA", "Command", "Factory", "Option", "option", "options_of", "type_name_of"]
