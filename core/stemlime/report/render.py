"""How a result folder becomes a page: the registry of page kinds, the media of a folder, and
:func:`render_report` (see :mod:`stemlime.report` for the whole story)."""

from __future__ import annotations

import base64
import functools
import json
import mimetypes
import warnings
from pathlib import Path
from typing import Any, Callable

import attrs

from ..errors import UsageError
from ..fs import MARKER, write_text_atomically
from ..wording import plural

AUDIO_FILES = (".wav", ".flac", ".mp3", ".ogg")  # a result's audio: each file a player on its page

PAGE_NAME = "index.html"

Context = Callable[[Path, "Media"], dict[str, Any]]


@attrs.frozen
class Page:
    """A kind of result folder that has a page: its template and its context function.

    ``templates`` is the folder of a plugin's own templates (they may extend ``base.html`` and
    import ``card.html`` of the core's); None for the core's pages."""

    kind: str
    template: str
    context: Context
    templates: Path | None = None


PAGES: dict[str, Page] = {}


def page(kind: str, template: str, templates: Path | None = None) -> Callable[[Context], Context]:
    """Register ``function(folder, media) -> dict`` as the context of ``kind``'s page ``template``
    (a plugin gives the folder of its ``templates``). Plugins register their pages through the
    ``stemlime_pages`` hook, so that ``stemlime report`` finds them in any process."""

    def register(function: Context) -> Context:
        PAGES[kind] = Page(kind, template, function, templates)
        return function

    return register


def page_of(kind: str) -> Page | None:
    """The page of ``kind``: the core's, else one a plugin registers (``stemlime_pages`` hook)."""
    if kind not in PAGES:
        from ..registry import get_registry

        for registered in get_registry().pages.values():
            PAGES.setdefault(registered.kind, registered)
    return PAGES.get(kind)


@attrs.frozen
class Media:
    """Files of a result folder as the URLs a page uses: relative paths, or ``data:`` URIs (``embed``).

    ``prefix`` is where ``folder`` lies as seen from the page (``""``: the page is in it)."""

    folder: Path
    embed: bool = False
    prefix: str = ""
    missing: list[str] = attrs.field(factory=list)  # audio files the result lists that are not there (no player)

    def has(self, path: str | None) -> bool:
        return path is not None and path != "" and (self.folder / path).is_file()

    def __call__(self, path: str | None) -> str | None:
        if path is None or not self.has(path):
            if path and Path(path).suffix.lower() in AUDIO_FILES:
                self.missing.append(self.prefix + path)
            return None
        if self.embed:
            return data_uri((self.folder / path).read_bytes(), mime_type(path))
        return self.link(path)

    def link(self, path: str | None) -> str | None:
        """The relative URL of a file of the folder, even when embedding (a page links to other
        pages and to files to download, never to a data URI); None when the file is not there."""
        if path is None or not self.has(path):
            return None
        return self.prefix + "/".join(_quote(part) for part in Path(path).parts)

    def under(self, subfolder: str) -> "Media":  # shares ``missing``
        """The files of ``subfolder`` (relative), as seen from this page."""
        return Media(
            self.folder / subfolder, self.embed, self.prefix + "/".join(_quote(p) for p in Path(subfolder).parts) + "/", self.missing
        )


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part)


def mime_type(path: str) -> str:
    """The media type of a page's file: WAV audio and pictures by their suffix."""
    suffix = Path(path).suffix.lower()
    return {".wav": "audio/wav", ".png": "image/png", ".svg": "image/svg+xml"}.get(suffix) or (
        mimetypes.guess_type(path)[0] or "application/octet-stream"
    )


def data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def folder_kind(folder: str | Path) -> str:
    """The kind of a result folder, from its marker; a UsageError for a folder stemlime did not write."""
    marker = Path(folder) / MARKER
    if not Path(folder).is_dir():
        raise UsageError(
            f"{folder} is not a folder: give a result folder of stemlime explain, check --out, scan, separate or explain-dataset"
        )
    try:
        return str(json.loads(marker.read_text())["kind"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{folder} is not a stemlime result folder (it has no {MARKER}): give a folder written by stemlime explain, "
            "check --out, scan, separate or explain-dataset"
        ) from None


def _environment():
    """The Jinja2 environment of the pages registered so far (see :func:`_environment_for`)."""
    return _environment_for(tuple(sorted({str(p.templates) for p in PAGES.values() if p.templates is not None})))


@functools.lru_cache(maxsize=4)
def _environment_for(plugin_templates: tuple[str, ...]):
    """One Jinja2 environment per set of template folders: built once, so each template is
    compiled once per process (a dataset's page renders every track's page too)."""
    import jinja2

    loader = jinja2.ChoiceLoader(
        [jinja2.PackageLoader("stemlime.report", "templates"), *(jinja2.FileSystemLoader(folder) for folder in plugin_templates)]
    )
    environment = jinja2.Environment(
        loader=loader, autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    from .charts import number

    environment.filters["number"] = number
    environment.filters["plural"] = plural
    return environment


def render_html(template: str, context: dict[str, Any]) -> str:
    """A template of ``templates/`` rendered with ``context``."""
    from ..version import __version__

    return _environment().get_template(template).render(**context, stemlime_version=__version__)


def render_report(folder: str | Path, kind: str | None = None, embed: bool = False) -> Path:
    """Write ``folder/index.html``, the page of a result folder (``kind``: from its marker unless given),
    after the pages of the result folders nested in it. Returns the page's path.

    The page replaces an earlier one atomically; nothing else in the folder changes. A folder
    without a marker, or of a kind without a page, is refused with a UsageError.
    """
    folder = Path(folder)
    kind = kind or folder_kind(folder)
    chosen = page_of(kind)
    if chosen is None:
        raise UsageError(
            f"stemlime has no page for result folders of kind {kind!r} ({folder}); pages exist for: "
            f"{', '.join(sorted(PAGES))} (a plugin may add more: stemlime plugins lists them)"
        )
    for marker in sorted(folder.glob(f"*/**/{MARKER}"), key=lambda found: -len(found.parts)):  # the deepest first
        nested = page_of(folder_kind(marker.parent))
        if nested is not None:
            _write_page(marker.parent, nested, embed)
    return _write_page(folder, chosen, embed)


def _write_page(folder: Path, chosen: Page, embed: bool) -> Path:
    media = Media(folder, embed)
    html = render_html(chosen.template, chosen.context(folder, media))
    if media.missing:
        shown = ", ".join(media.missing[:3]) + (f" and {len(media.missing) - 3} more" if len(media.missing) > 3 else "")
        warnings.warn(
            f"{folder}: {plural(len(media.missing), 'audio file')} that the result lists {'is' if len(media.missing) == 1 else 'are'} "
            f"missing ({shown}); the page has no player for {'it' if len(media.missing) == 1 else 'them'}. "
            "Run the command that made the result again to restore them"
        )
    return write_text_atomically(folder / PAGE_NAME, html)


__all__ = [
    "Context",
    "Media",
    "PAGES",
    "PAGE_NAME",
    "Page",
    "data_uri",
    "folder_kind",
    "mime_type",
    "page",
    "page_of",
    "render_html",
    "render_report",
]
