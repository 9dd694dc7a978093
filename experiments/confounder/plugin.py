"""The confounder experiment as a stemlime plugin: ``stemlime report`` knows its result folders."""

from __future__ import annotations

from stemlime.plugin import hookimpl


@hookimpl
def stemlime_pages(register):
    from .page import PAGE  # the page's code, only when pages are collected

    register(PAGE)
