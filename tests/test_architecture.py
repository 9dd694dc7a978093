"""The shape of the code, checked: the core's layers have no import cycle, plugins use the SDK only,
no private name crosses a module, and every distribution declares what it imports."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

from architecture import CORE, ROOT, cycles, import_graph, import_nodes, imported_names, python_files

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLUGINS = sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))
EXPERIMENTS = sorted(p.parent for p in ROOT.glob("experiments/*/pyproject.toml"))


def test_the_core_has_no_import_cycle():
    found = cycles(import_graph())
    assert found == [], f"modules that import each other (directly or through others): {found}"


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("stemlime.report", "stemlime.explanation"),  # pages read records, never the values that make them
        ("stemlime.pipeline", "stemlime.dataset"),  # applications take a pipeline, not the other way round
        ("stemlime.pipeline", "stemlime.scanning"),
        ("stemlime.records", "stemlime.explanation"),
        ("stemlime.records", "stemlime.pipeline"),
    ],
)
def test_a_lower_layer_does_not_import_an_upper_one(lower, upper):
    graph = import_graph()
    seen, todo = set(), [m for m in graph if m == lower or m.startswith(lower + ".")]
    while todo:  # everything importing the lower layer's modules runs, transitively
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph.get(module, ())
    assert not any(m == upper or m.startswith(upper + ".") for m in seen), f"{lower} reaches {upper}"


def _sources() -> list[tuple[Path, Path]]:
    """(file, the root its module names start from) for the core, plugins, experiments and benches."""
    found = [(path, CORE) for path in python_files(CORE / "stemlime")]
    for plugin in PLUGINS:
        found += [(path, plugin) for path in python_files(plugin) if path.parent != plugin]
    for experiment in EXPERIMENTS:
        found += [(path, experiment.parent) for path in python_files(experiment)]
    return found + [(path, ROOT / "bench") for path in python_files(ROOT / "bench")]


def test_no_private_name_is_imported_across_modules():
    found = []
    for path, root in _sources():
        for base, name, line in imported_names(path, root):
            private = [part for part in base.split(".") + ([name] if name else []) if part.startswith("_") and not part.startswith("__")]
            if private and (base.startswith("stemlime") or base.startswith("confounder") or "." in base):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {base}{'.' + name if name else ''}")
    assert found == []


def test_plugins_import_stemlime_only_through_its_sdk():
    """Plugins use ``stemlime.plugin``; applications (experiments) may also use the package's top level."""
    found = []
    for folder, allowed in [(plugin, {"stemlime.plugin"}) for plugin in PLUGINS] + [
        (experiment, {"stemlime.plugin", "stemlime"}) for experiment in EXPERIMENTS
    ]:
        for path in python_files(folder):
            for base, name, line in imported_names(path, folder.parent if folder in EXPERIMENTS else folder):
                if (base == "stemlime" or base.startswith("stemlime.")) and base not in allowed:
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {base}")
                if (
                    base == "stemlime"
                    and name is not None
                    and folder in EXPERIMENTS
                    and importlib.util.find_spec(f"stemlime.{name}") is not None
                ):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports the module stemlime.{name}")
    assert found == [], "import these names from stemlime.plugin (add them there if they belong to the SDK)"


def test_every_name_of_the_sdk_resolves():
    import stemlime.plugin

    missing = [name for name in stemlime.plugin.__all__ if not hasattr(stemlime.plugin, name)]
    assert missing == [] and len(stemlime.plugin.__all__) > 60


def test_plugins_call_hooks_through_pluggy(monkeypatch):
    """A hook wrapper sees every hook call: the registry goes through pluggy's hook caller, once
    per plugin that implements the hook (so that what each registers is filed under it)."""
    import pluggy

    from stemlime.registry import Registry, plugin_module

    seen = []

    def stemlime_separators(register):
        seen.append("wrapper before")
        result = yield
        seen.append("wrapper after")
        return result

    wrapper = plugin_module("tracer")
    wrapper.stemlime_separators = pluggy.HookimplMarker("stemlime")(wrapper=True)(stemlime_separators)
    registry = Registry(plugins=[wrapper])
    implementing = [impl for impl in registry.plugin_manager.hook.stemlime_separators.get_hookimpls() if not impl.wrapper]
    assert seen == ["wrapper before", "wrapper after"] * len(implementing) and len(implementing) >= 2
    assert "oracle" in registry.factories["separator"] and registry.factories["separator"]["oracle"].package == "stemlime"


# ---------------------------------------------------------------------------- dependencies

# imported only inside a function, for one feature, with a message that says what to install
ON_DEMAND = {
    "stemlime": {
        "IPython": "Explanation.play in Jupyter",
        "torch": "torch plugins' devices and workers",
        "pretty_midi": "writing .mid files of a separator that transcribes",
    },
}


def _distributions() -> list[tuple[str, Path, list[Path]]]:
    """(pyproject, its package folders) of the core, each plugin and each experiment."""
    found = [(ROOT / "pyproject.toml", [CORE / "stemlime"])]
    for plugin in PLUGINS:
        found.append((plugin / "pyproject.toml", [p for p in plugin.iterdir() if (p / "__init__.py").is_file()]))
    return found + [(experiment / "pyproject.toml", [experiment]) for experiment in EXPERIMENTS]


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-") for requirement in requirements}


def _imports(folders: list[Path]) -> dict[str, bool]:
    """Third-party top-level modules the folders import -> whether at module level (always)."""
    found: dict[str, bool] = {}
    for folder in folders:
        for path in python_files(folder):
            tree = ast.parse(path.read_text())
            top_level = {id(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))}
            for node in import_nodes(tree):
                names = (
                    [alias.name for alias in node.names] if isinstance(node, ast.Import) else ([] if node.level else [node.module or ""])
                )
                for name in names:
                    top = name.split(".")[0]
                    if top and top not in sys.stdlib_module_names and top != "__future__":
                        found[top] = found.get(top, False) or id(node) in top_level
    return found


@pytest.mark.parametrize(
    "pyproject, folders", _distributions(), ids=lambda value: getattr(value, "parent", value).name if isinstance(value, Path) else ""
)
def test_each_distribution_declares_what_it_imports_and_imports_what_it_declares(pyproject, folders):
    from importlib.metadata import packages_distributions

    project = tomllib.loads(pyproject.read_text())["project"]
    name = project["name"]
    required = _requirement_names(project.get("dependencies", []))
    optional = set().union(*(_requirement_names(r) for r in project.get("optional-dependencies", {}).values()))
    own = {folder.name for folder in folders} | ({"confounder"} if name == "stemlime-confounder" else set())
    distributions = {module: {d.lower().replace("_", "-") for d in dists} for module, dists in packages_distributions().items()}
    on_demand = ON_DEMAND.get(name, {})
    problems = []
    for module, always in sorted(_imports(folders).items()):
        if module in own:
            continue
        provided_by = distributions.get(module, {module.lower().replace("_", "-")})
        if provided_by & required:
            continue
        if not always and (provided_by & optional or module in on_demand):
            continue
        problems.append(
            f"{name} imports {module} ({'at module level' if always else 'on demand'}) but does not declare "
            f"{' or '.join(sorted(provided_by))}"
        )
    imported = set().union(*(distributions.get(m, {m.lower()}) for m in _imports(folders)))
    unused = sorted(required - imported - {"stemlime"} - ({"tomli"} if name == "stemlime" else set()))
    problems += [f"{name} declares {requirement} but never imports it" for requirement in unused]
    assert problems == []
