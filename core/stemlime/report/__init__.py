"""Listening reports: any result folder as one self-contained page, and the same card in Jupyter.

    stemlime.report.render_report("out/")        # out/index.html (and the pages of folders nested in it)
    stemlime.report.render_report("out/", embed=True)   # audio and pictures inside the page
    explanation                                  # in a notebook: the card, audio embedded

A page works offline: no script, no CDN, no web font; charts are inline SVG drawn by the
templates; audio and pictures are the folder's own files, by relative path (``embed=True``:
``data:`` URIs, for a page that travels alone).

How a page is made. The folder's marker (``.stemlime-output.json``, written by
:class:`stemlime.output.ResultFolder`) names its kind. ``PAGES`` maps each kind to a Jinja2
template in ``templates/`` and a context function ``(folder, media) -> dict`` that reads the
folder's files (``explanation.json``, ``scan.json``, ...) into what the template shows.
``media(path)`` turns a file of the folder into the URL the page uses (relative path or data
URI); ``media.has(path)`` says whether the file is there. Result folders nested in the folder
(a scan's snippets, a dataset's tracks) get their own pages first, so a page can link to them.

Adding a kind (the dataset runner's ``dataset``, the confounder ``experiment``) is one template
and one function, registered here with :func:`page`::

    # core/stemlime/report/pages.py (or a module imported at the bottom of this file)
    @page("dataset", "dataset.html")
    def dataset_context(folder: Path, media: Media) -> dict[str, Any]:
        summary = json.loads((folder / "global.json").read_text())
        return {"title": "...", "chart": media("global.png"),
                "tracks": [track_card(folder / "tracks" / name, media.under(f"tracks/{name}")) for name in ...]}

    {# templates/dataset.html #}
    {% extends "base.html" %}
    {% import "card.html" as card %}
    {% block content %} ... {{ card.explanation_card(track) }} ... {% endblock %}

:func:`stemlime.report.pages.explanation_card` turns any explanation folder (``explanation.json``)
into the card that ``card.html``'s ``explanation_card`` macro draws; ``card.player``,
``card.weight_bars`` and ``card.heatmap`` draw one player, one weight chart, one heatmap.
"""

from __future__ import annotations

import base64
import functools
import json
import mimetypes
from pathlib import Path
from typing import Any, Callable

import attrs

from ..errors import UsageError
from ..output import MARKER
from ..verified_copy import replace_atomically
from ..wording import plural

PAGE_NAME = "index.html"

Context = Callable[[Path, "Media"], dict[str, Any]]


@attrs.frozen
class Page:
    """A kind of result folder that has a page: its template and its context function."""

    kind: str
    template: str
    context: Context


PAGES: dict[str, Page] = {}


def page(kind: str, template: str) -> Callable[[Context], Context]:
    """Register ``function(folder, media) -> dict`` as the context of ``kind``'s page ``template``."""

    def register(function: Context) -> Context:
        PAGES[kind] = Page(kind, template, function)
        return function

    return register


@attrs.frozen
class Media:
    """Files of a result folder as the URLs a page uses: relative paths, or ``data:`` URIs (``embed``).

    ``prefix`` is where ``folder`` lies as seen from the page (``""``: the page is in it)."""

    folder: Path
    embed: bool = False
    prefix: str = ""

    def has(self, path: str | None) -> bool:
        return bool(path) and (self.folder / path).is_file()

    def __call__(self, path: str | None) -> str | None:
        if not self.has(path):
            return None
        if self.embed:
            return data_uri((self.folder / path).read_bytes(), mime_type(path))
        return self.link(path)

    def link(self, path: str | None) -> str | None:
        """The relative URL of a file of the folder, even when embedding (a page links to other
        pages and to files to download, never to a data URI); None when the file is not there."""
        if not self.has(path):
            return None
        return self.prefix + "/".join(_quote(part) for part in Path(path).parts)

    def under(self, subfolder: str) -> "Media":
        """The files of ``subfolder`` (relative), as seen from this page."""
        return Media(self.folder / subfolder, self.embed, self.prefix + "/".join(_quote(p) for p in Path(subfolder).parts) + "/")


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part)


def mime_type(path: str) -> str:
    """The media type of a page's file: WAV audio and pictures by their suffix."""
    suffix = Path(path).suffix.lower()
    return {".wav": "audio/wav", ".png": "image/png", ".svg": "image/svg+xml"}.get(suffix) or (
        mimetypes.guess_type(path)[0] or "application/octet-stream")


def data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def folder_kind(folder: str | Path) -> str:
    """The kind of a result folder, from its marker; a UsageError for a folder stemlime did not write."""
    marker = Path(folder) / MARKER
    if not Path(folder).is_dir():
        raise UsageError(f"{folder} is not a folder: give a result folder of stemlime explain, check --out, scan, separate "
                         "or explain-dataset")
    try:
        return str(json.loads(marker.read_text())["kind"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{folder} is not a stemlime result folder (it has no {MARKER}): give a folder written by stemlime explain, "
            "check --out, scan, separate or explain-dataset"
        ) from None


@functools.lru_cache(maxsize=1)
def _environment():
    """The one Jinja2 environment: built once, so each template is compiled once per process
    (a dataset's page renders every track's page too)."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("stemlime.report", "templates"),
                                     autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    from .charts import number

    environment.filters["number"] = number
    environment.filters["plural"] = plural
    return environment


def render_html(template: str, context: dict[str, Any]) -> str:
    """A template of ``templates/`` rendered with ``context``."""
    from .. import __version__

    return _environment().get_template(template).render(**context, stemlime_version=__version__)


def render_report(folder: str | Path, kind: str | None = None, embed: bool = False) -> Path:
    """Write ``folder/index.html``, the page of a result folder (``kind``: from its marker unless given),
    after the pages of the result folders nested in it. Returns the page's path.

    The page replaces an earlier one atomically; nothing else in the folder changes. A folder
    without a marker, or of a kind without a page, is refused with a UsageError.
    """
    folder = Path(folder)
    kind = kind or folder_kind(folder)
    if kind not in PAGES:
        raise UsageError(f"stemlime has no page for result folders of kind {kind!r} ({folder}); pages exist for: "
                         f"{', '.join(sorted(PAGES))}")
    for marker in sorted(folder.glob(f"*/**/{MARKER}"), key=lambda found: -len(found.parts)):  # the deepest first
        nested = marker.parent
        if folder_kind(nested) in PAGES:
            _write_page(nested, PAGES[folder_kind(nested)], embed)
    return _write_page(folder, PAGES[kind], embed)


def _write_page(folder: Path, chosen: Page, embed: bool) -> Path:
    html = render_html(chosen.template, chosen.context(folder, Media(folder, embed)))
    path = folder / PAGE_NAME
    replace_atomically(path, lambda temporary: temporary.write_text(html, encoding="utf-8"))
    return path


def notebook_card(explanation: Any) -> str:
    """The explanation card of an :class:`~stemlime.explanation.Explanation` as an HTML fragment,
    every player's audio embedded as a base64 WAV (what ``_repr_html_`` shows in Jupyter)."""
    from .pages import explanation_card_of

    return render_html("notebook.html", {"e": explanation_card_of(explanation)})


from . import pages  # noqa: E402  (registers the built-in kinds)
from . import dataset_page  # noqa: E402  (explain-dataset's page)
from . import experiment  # noqa: E402,F401  (the confounder experiment's page: kind experiment)

__all__ = ["Media", "PAGES", "Page", "data_uri", "folder_kind", "notebook_card", "page", "render_html", "render_report"]
