"""Listening reports: any result folder as one self-contained page, and the same card in Jupyter.

    stemlime.report.render_report("out/")        # out/index.html (and the pages of folders nested in it)
    stemlime.report.render_report("out/", embed=True)   # audio and pictures inside the page
    explanation                                  # in a notebook: the card, audio embedded

A page works offline: no script, no CDN, no web font; charts are inline SVG drawn by the
templates; audio and pictures are the folder's own files, by relative path (``embed=True``:
``data:`` URIs, for a page that travels alone).

How a page is made. The folder's marker (``.stemlime-output.json``, written by
:class:`stemlime.fs.ResultFolder`) names its kind. ``PAGES`` maps each kind to a Jinja2
template in ``templates/`` and a context function ``(folder, media) -> dict`` that reads the
folder's files (``explanation.json``, ``scan.json``, ...) into what the template shows.
``media(path)`` turns a file of the folder into the URL the page uses (relative path or data
URI); ``media.has(path)`` says whether the file is there. Result folders nested in the folder
(a scan's snippets, a dataset's tracks) get their own pages first, so a page can link to them.

Adding a kind is one template and one function that turns the folder's record into what the
template shows. The core's kinds register with :func:`page`; a plugin's (the confounder
``experiment``) register through the ``stemlime_pages`` hook, with the folder of their own
templates::

    @hookimpl
    def stemlime_pages(register):
        register(Page("experiment", "experiment.html", experiment_context, templates=Path(__file__).parent / "templates"))

    def experiment_context(folder: Path, media: Media) -> dict[str, Any]:
        summary = read_json(folder / "summary.json")      # stemlime.records
        return {"title": "...", "chart": media("accuracy.png"), ...}

    {# templates/experiment.html #}
    {% extends "base.html" %}
    {% import "card.html" as card %}
    {% block content %} ... {{ card.explanation_card(example) }} ... {% endblock %}

:func:`stemlime.report.pages.explanation_card` turns any explanation record
(:func:`stemlime.records.read_explanation`) into the card that ``card.html``'s
``explanation_card`` macro draws; ``card.player``, ``card.weight_bars`` and ``card.heatmap``
draw one player, one weight chart, one heatmap.
"""

from .pages import ArrayMedia, explanation_card, notebook_card
from .render import PAGES, Media, Page, data_uri, folder_kind, page, page_of, render_html, render_report
from . import dataset_page  # noqa: F401  (explain-dataset's page registers itself)

__all__ = [
    "ArrayMedia",
    "Media",
    "PAGES",
    "Page",
    "data_uri",
    "explanation_card",
    "folder_kind",
    "notebook_card",
    "page",
    "page_of",
    "render_html",
    "render_report",
]
