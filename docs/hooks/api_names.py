"""MkDocs hook: tables of every public name of ``stemlime`` and ``stemlime.plugin``, generated at build time.

A page writes ``{{ public_names:MODULE }}`` where the table goes. Each row is a name of
``MODULE.__all__`` (the plugin SDK's lazy PEP 562 names are resolved here, so none is missed),
the module it is defined in and the first line of its docstring.
"""

from __future__ import annotations

import importlib
import inspect
import re

MARKER = re.compile(r"\{\{ public_names:([\w.]+) \}\}")


def _row(module, name: str) -> str:
    value = getattr(module, name)
    home = getattr(value, "__module__", None) or module.__name__
    doc = (inspect.getdoc(value) or "").strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
    if not callable(value) and not inspect.isclass(value) and not inspect.ismodule(value):
        doc = f"constant: `{value!r}`"[:120].replace("|", "\\|")
    return f"| `{name}` | `{home}` | {doc} |"


def public_names(module_name: str) -> str:
    module = importlib.import_module(module_name)
    rows = [_row(module, name) for name in sorted(module.__all__)]
    return "\n".join(["| Name | Defined in | What it is |", "|---|---|---|", *rows])


def on_page_markdown(markdown, page, config, files):
    return MARKER.sub(lambda m: public_names(m.group(1)), markdown)
