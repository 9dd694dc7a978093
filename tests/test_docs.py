"""The documentation site (issue #28): it builds with warnings as errors, its CLI reference lists
every command of the parser, and its API reference holds the numpydoc Parameters of the public
entry points."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*words, name))
                found += _commands(sub, (*words, name))
    return found


def test_cli_reference_lists_every_command(site):
    from stemlime.cli import build_parser

    page = (site / "reference" / "cli.html").read_text()
    commands = _commands(build_parser())
    assert ("explain",) in commands and ("models", "fetch") in commands
    missing = [" ".join(words) for words in commands if f"stemlime {' '.join(words)}" not in page]
    assert not missing, f"commands missing from the CLI reference: {missing}"


def test_api_reference_has_the_parameters_of_explain(site):
    page = (site / "reference" / "api.html").read_text()
    assert "stemlime.Pipeline.explain" in page or "Pipeline.explain" in page
    start = page.index('id="stemlime.Pipeline.explain"')
    explain = page[start : start + 40_000]
    assert "Parameters" in explain and "Returns" in explain
    for name in ("source", "sample_rate", "labels", "top_labels", "start", "duration", "samples", "seed", "out"):
        assert f"<code>{name}</code>" in explain, name
    for name in ("stemlime.scan", "stemlime.explain_dataset", "stemlime.ExplainRequest", "stemlime.Explanation"):
        assert f'id="{name}"' in page, name


def test_plugin_sdk_page_and_gallery(site):
    sdk = (site / "reference" / "plugin-sdk.html").read_text()
    assert 'id="stemlime.plugin"' in sdk and "stemlime_separators" in sdk
    gallery = site / "gallery"
    assert (gallery / "loudness" / "index.html").is_file()
    assert (gallery / "loudness" / "explanation.json").is_file()
    assert (site / "gallery" / "loudness" / "weights.png").is_file()
    assert "fonts.googleapis.com" not in (site / "index.html").read_text(), "the site loads no web fonts"


def test_api_reference_lists_every_public_name(site):
    import stemlime
    import stemlime.plugin

    for module, page in ((stemlime, "api.html"), (stemlime.plugin, "plugin-sdk.html")):
        text = (site / "reference" / page).read_text()
        missing = [name for name in module.__all__ if f"<code>{name}</code>" not in text]
        assert not missing, f"{module.__name__} names missing from {page}: {missing}"


def _pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def test_no_broken_link_between_pages(site):
    import re
    from urllib.parse import unquote, urlsplit

    broken = []
    for page in _pages(site):
        html = (site / page).read_text()
        for target in re.findall(r'(?:href|src)="([^"]+)"', html):
            parts = urlsplit(target)
            if parts.scheme or target.startswith(("#", "mailto:", "data:")) or not parts.path:
                continue
            base = site if parts.path.startswith("/") else (site / page).parent  # 404.html links from the root
            path = base / unquote(parts.path.lstrip("/"))
            if not path.exists():
                broken.append(f"{page} -> {target}")
    assert not broken, f"broken links: {broken[:20]}"


def test_every_page_opens_in_chromium_without_network_or_errors(site):
    from browser import ARGS, CHROMIUM, require_browser, serve

    require_browser()
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with serve(site) as root, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            view = browser.new_context().new_page()
            current = [""]
            view.on("pageerror", lambda error: problems.append(f"{current[0]}: {error}"))
            view.on("console", lambda message: problems.append(f"{current[0]}: {message.text}") if message.type == "error" else None)
            view.on(
                "request",
                lambda request: (
                    None
                    if request.url.startswith((root, "data:", "blob:"))
                    else problems.append(f"{current[0]}: outside request {request.url}")
                ),
            )
            view.on(
                "response",
                lambda response: problems.append(f"{current[0]}: {response.status} {response.url}") if response.status >= 400 else None,
            )
            for page in _pages(site):
                if page == "404.html":
                    continue
                current[0] = page
                view.goto(root + page, wait_until="load")
        finally:
            browser.close()
    assert not problems, problems[:20]
