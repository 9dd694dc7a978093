"""Plugin discovery and construction of separators, segmenters, taggers and surrogates.

The registry asks every plugin (entry point group ``stemlime``, plus the core's built-ins,
which are registered through the very same hooks) to ``register`` its factories. A factory
is cheap metadata plus a ``build`` callable, so listing plugins never loads a model.
"""

from __future__ import annotations

import difflib
import functools
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import attrs
import pluggy

from . import hookspecs
from .errors import UsageError
from .specs import Spec, as_spec

KINDS = ("separator", "segmenter", "tagger", "surrogate")
_HOOKS = {kind: f"stemlime_{kind}s" for kind in KINDS}

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


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "int": lambda v: int(v) if not isinstance(v, float) or v.is_integer() else int("x"),
    "float": float,
    "bool": _to_bool,
    "path": lambda v: Path(str(v)).expanduser() if str(v).strip() else int("empty path"),
}


@attrs.frozen
class Option:
    """One option a factory takes: ``type`` is one of str, int, float, bool, path."""

    name: str
    description: str
    type: str = "str"
    default: Any = None
    choices: tuple[Any, ...] | None = None

    def convert(self, value: Any, owner: str) -> Any:
        try:
            converted = _CONVERTERS[self.type](value)
        except (ValueError, TypeError):
            raise UsageError(f"{owner}: option {self.name}={value!r} is not a valid {self.type} ({self.description})") from None
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
    """How to build one named separator/segmenter/tagger/surrogate.

    ``build(variant, **options)`` returns the object; it is called with the variant (or the
    default variant, or None) and the converted options that the user gave.
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

    ``add_arguments(parser)`` declares its arguments on an ``argparse.ArgumentParser``;
    ``run(args)`` carries it out with the parsed ``argparse.Namespace``. Like the core's
    commands, it raises ``UsageError`` for bad arguments (exit status 2) and ``StemlimeError``
    for bad files or missing tools (exit status 1). Both callables should import heavy code
    lazily: every ``stemlime`` invocation collects the commands.
    """

    name: str
    help: str
    add_arguments: Callable[[Any], None]
    run: Callable[[Any], None]
    package: str = ""  # the distribution that provides it; filled in by the registry


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def closest_match(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or '' when none is close."""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


class Registry:
    """Everything the installed plugins provide, by kind and name."""

    def __init__(self, plugins: Iterable[object] = (), entry_points: bool = True):
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        if entry_points:
            self.plugin_manager.load_setuptools_entrypoints(hookspecs.PROJECT)
        from . import builtins

        if not self.plugin_manager.is_registered(builtins):
            self.plugin_manager.register(builtins, name="stemlime.builtins")
        for plugin in plugins:
            self.plugin_manager.register(plugin)
        self.factories: dict[str, dict[str, Factory]] = {kind: {} for kind in KINDS}
        self.models: dict[str, Any] = {}
        self.commands: dict[str, Command] = {}
        self._collect()

    def _package_of(self) -> dict[int, str]:
        packages = {id(plugin): dist.project_name for plugin, dist in self.plugin_manager.list_plugin_distinfo()}
        from . import builtins

        packages.setdefault(id(builtins), "stemlime")
        return packages

    def _collect(self) -> None:
        packages = self._package_of()
        for kind, hook_name in list(_HOOKS.items()) + [("model", "stemlime_models"), ("command", "stemlime_commands")]:
            for impl in getattr(self.plugin_manager.hook, hook_name).get_hookimpls():
                package = packages.get(id(impl.plugin), getattr(impl.plugin, "__name__", str(impl.plugin)))
                impl.function(register=functools.partial(self._register, kind, package))

    def _register(self, kind: str, package: str, item: Any) -> None:
        if kind == "model":
            self.models.setdefault(item.name, item)
            return
        if kind == "command":
            self._register_command(package, item)
            return
        if not isinstance(item, Factory):
            raise TypeError(f"plugin {package} registered {item!r} as a {kind}; expected a stemlime.Factory")
        existing = self.factories[kind].get(item.name)
        if existing is not None:
            warnings.warn(f"{kind} {item.name!r} is provided by both {existing.package} and {package}; using {existing.package}'s")
            return
        self.factories[kind][item.name] = attrs.evolve(item, package=package)

    def _register_command(self, package: str, command: Any) -> None:
        if not isinstance(command, Command):
            raise TypeError(f"plugin {package} registered {command!r} as a command; expected a stemlime.registry.Command")
        existing = self.commands.get(command.name)
        if existing is not None:
            warnings.warn(f"command {command.name!r} is provided by both {existing.package} and {package}; using {existing.package}'s")
            return
        self.commands[command.name] = attrs.evolve(command, package=package)

    # ------------------------------------------------------------------ lookup and build

    def factory(self, kind: str, name: str) -> Factory:
        factories = self.factories[kind]
        if name in factories:
            return factories[name]
        available = ", ".join(f"{n} ({f.package})" for n, f in sorted(factories.items())) or "none installed"
        raise UsageError(f"unknown {kind} {name!r}{closest_match(name, factories)}. Available {kind}s: {available}.")

    def resolve(self, kind: str, spec: "str | Spec | dict") -> tuple[Factory, str | None, dict[str, Any]]:
        """Validate a spec against its factory: the factory, the variant and converted options."""
        spec = as_spec(spec, kind)
        factory = self.factory(kind, spec.name)
        owner = f"{kind} {spec.name!r}"
        variant = spec.variant or factory.default_variant
        if spec.variant is not None and spec.variant not in factory.variants:
            if factory.variants:
                raise UsageError(
                    f"{owner} has no variant {spec.variant!r}{closest_match(spec.variant, factory.variants)}. "
                    f"Variants: {', '.join(factory.variants)}."
                )
            raise UsageError(f"{owner} takes no variant, but {spec.variant!r} was given.")
        options = {}
        for key, value in spec.options.items():
            option = factory.option(key)
            if option is None:
                names = [o.name for o in factory.options]
                listing = "; ".join(f"{o.name} ({o.type}): {o.description}" for o in factory.options) or "none"
                raise UsageError(f"{owner} has no option {key!r}{closest_match(key, names)}. Options: {listing}.")
            options[key] = option.convert(value, owner)
        return factory, variant, options

    def build(self, kind: str, spec: "str | Spec | dict") -> Any:
        factory, variant, options = self.resolve(kind, spec)
        return factory.build(variant, **options)

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        """What ``stemlime plugins --json`` prints."""
        return {
            kind + "s": [
                {
                    "name": f.name,
                    "package": f.package,
                    "description": f.description,
                    "variants": list(f.variants),
                    "default_variant": f.default_variant,
                    "options": [o.to_dict() for o in f.options],
                }
                for _, f in sorted(self.factories[kind].items())
            ]
            for kind in KINDS
        }


    def describe_commands(self) -> list[dict[str, str]]:
        """The plugins' command-line commands: name, help and package (nothing is run or imported)."""
        return [{"name": c.name, "help": c.help, "package": c.package} for _, c in sorted(self.commands.items())]


_default: Registry | None = None


def get_registry() -> Registry:
    """The registry of all installed plugins (discovered once per process)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def plugin_module(name: str, **hooks: Callable) -> types.ModuleType:
    """A throwaway plugin object holding the given hook functions (handy in tests and notebooks)."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookspecs.hookimpl(function))
    return module
