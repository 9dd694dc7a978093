"""The plugin hooks. A plugin implements any of them and is found through the entry point
group ``stemlime``; the core's built-ins use exactly the same hooks.

Each hook receives a ``register`` callback and calls it once per thing it provides::

    from stemlime import hookimpl, Factory

    @hookimpl
    def stemlime_separators(register):
        register(Factory(name="mysep", description="...", build=MySeparator))
"""

from __future__ import annotations

import pluggy

PROJECT = "stemlime"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def stemlime_separators(register):
    """Call ``register(factory)`` for each separator (audio -> stems) this plugin provides."""


@hookspec
def stemlime_segmenters(register):
    """Call ``register(factory)`` for each segmenter (audio -> time segments) this plugin provides."""


@hookspec
def stemlime_taggers(register):
    """Call ``register(factory)`` for each tagger (waveforms -> label probabilities) this plugin provides."""


@hookspec
def stemlime_surrogates(register):
    """Call ``register(factory)`` for each surrogate (interpretable local model) this plugin provides."""


@hookspec
def stemlime_models(register):
    """Call ``register(model_files)`` for each set of model files this plugin can locate, fetch and verify."""


@hookspec
def stemlime_pages(register):
    """Call ``register(stemlime.report.Page(kind, template, context, templates=FOLDER))`` for each
    kind of result folder this plugin writes and has a page for (``stemlime report`` finds it)."""


@hookspec
def stemlime_commands(register):
    """Call ``register(command)`` for each ``stemlime.registry.Command`` (a ``stemlime NAME ...``
    command-line command) this plugin adds. Registering is cheap: the command's ``run`` imports
    whatever heavy code it needs when it runs."""
