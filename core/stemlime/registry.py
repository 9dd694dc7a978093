"""Plugin discovery and construction of separators, segmenters, taggers and surrogates.

The registry asks every plugin (entry point group ``stemlime``, plus the core's built-ins,
which are registered through the very same hooks) to ``register`` its factories. A factory
is cheap metadata plus a ``build`` callable, so listing plugins never loads a model.
"""

from __future__ import annotations

import functools
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

import attrs
import pluggy

from . import hookspecs
from .declarations import OPTION_METADATA, Command, Factory, Option, option, options_of
from .errors import UsageError
from .specs import Spec, as_spec
from .wording import closest_match

KINDS = ("separator", "segmenter", "tagger", "surrogate")
_HOOKS = {kind: f"stemlime_{kind}s" for kind in KINDS}


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
        self.pages: dict[str, Any] = {}  # result-folder kind -> stemlime.report.Page, from plugins
        self._collect()

    def _packages(self) -> dict[str, str]:
        """Each registered plugin's module name -> the distribution that provides it (the
        module's own name for a plugin object that no distribution installed)."""
        from . import builtins

        packages = {getattr(plugin, "__name__", ""): dist.project_name for plugin, dist in self.plugin_manager.list_plugin_distinfo()}
        packages.setdefault(builtins.__name__, "stemlime")
        for plugin in self.plugin_manager.get_plugins():
            name = getattr(plugin, "__name__", None) or str(plugin)
            packages.setdefault(name, name)
        return packages

    def _collect(self) -> None:
        """Call each hook through pluggy's hook caller (so hook wrappers and tracing see it), once
        per plugin that implements it (a subset caller that keeps every wrapper), with a
        ``register`` callback that files what the plugin registers under its distribution."""
        packages = self._packages()
        hooks = list(_HOOKS.items()) + [("model", "stemlime_models"), ("command", "stemlime_commands"), ("page", "stemlime_pages")]
        manager = self.plugin_manager
        for kind, hook_name in hooks:
            implementations = getattr(manager.hook, hook_name).get_hookimpls()
            plain = [impl.plugin for impl in implementations if not (impl.wrapper or impl.hookwrapper)]
            for plugin in reversed(plain):  # the order pluggy calls them in: last registered first
                name = getattr(plugin, "__name__", None) or str(plugin)
                others = [other for other in plain if other is not plugin]
                caller = manager.subset_hook_caller(hook_name, remove_plugins=others)
                caller(register=functools.partial(self._register, kind, packages.get(name, name)))

    def _register(self, kind: str, package: str, item: Any) -> None:
        if kind == "model":
            self.models.setdefault(item.name, item)
            return
        if kind == "page":
            self.pages.setdefault(item.kind, item)
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
