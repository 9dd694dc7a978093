"""Separators ready before the long work starts: their model files fetched or built, with a message.

A separator spec ``NAME:VARIANT`` whose plugin declares the model ``NAME/VARIANT`` (as
``stemlime models list`` shows it: ``spleeter/2stems``, ``cerberus/pno-gtr-bss-drm``) needs
those files. When they are not in the cache, the model is built by its recipe (Cerberus: about
38 minutes on a 2-core CPU, once) or fetched, through the core's model store: the same mechanism as
``stemlime models build NAME`` and ``stemlime models fetch NAME``.
"""

from __future__ import annotations

from typing import Callable, Sequence

from stemlime.plugin import ModelStore, model_store
from stemlime.plugin import get_registry
from stemlime.plugin import as_spec


def model_name(spec: str) -> str | None:
    """The model a separator spec needs (``NAME/VARIANT``), or None when it needs none (oracle)."""
    registry = get_registry()
    _, variant, _ = registry.resolve("separator", spec)
    name = f"{as_spec(spec, 'separator').name}/{variant}" if variant else None
    return name if name in registry.models else None


def prepare_separators(
    specs: Sequence[str], device: str = "auto", log: Callable[[str], None] = print, store: ModelStore | None = None
) -> list[str]:
    """Make sure every separator's model files are in the cache: built by their recipe, or
    fetched. Returns the models it built or fetched."""
    store = store or model_store()
    prepared = []
    for spec in specs:
        name = model_name(spec)
        if name is None or not store.status(name).startswith("missing"):
            continue  # no files needed, or there (a damaged copy is reported when the separator loads it)
        model = store.get(name)
        if model.recipe is not None and not model.sources:
            log(
                f"separator {spec}: the model {name} is not built yet; building it now with its recipe "
                f"({model.recipe.duration}; once: `stemlime models build {name}` does the same)"
            )
            store.build(name, device=device)
        else:
            log(f"separator {spec}: fetching the model files of {name} (`stemlime models fetch {name}` does the same)")
            store.fetch(name)
        prepared.append(name)
    return prepared
