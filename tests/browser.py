"""A real headless Chromium (Debian's ``chromium``, driven by Playwright) looking at stemlime's pages.

The folder is served from a local HTTP server (file:// may block media); the page is loaded at
a width, and what a person would notice is collected: console errors, failed or non-local
requests, audio elements without a duration, images that did not load, horizontal scrolling.
Tests skip with the reason when Chromium or Playwright is missing (``make install`` installs
both: ``chromium`` is in the Makefile's DEBIAN_PACKAGES, Playwright in the ``test`` extra).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = (1280, 900)
PHONE = (390, 844)
# full-page pictures to look at by eye in development: STEMLIME_SCREENSHOTS=FOLDER (none by default)
SCREENSHOTS = Path(os.environ["STEMLIME_SCREENSHOTS"]) if os.environ.get("STEMLIME_SCREENSHOTS") else None


def require_browser() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (Debian package chromium; `make install` installs it as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (the test extra: pip install -e '.[test]')")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Files as a web server serves them, byte ranges included (``Range: bytes=a-b``, what a
    player asks for to seek; Python's own handler answers every request whole, so a seek
    would fall back to 0 s)."""

    def log_message(self, *args) -> None:
        pass

    def send_head(self):
        wanted = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not wanted.startswith("bytes=") or "," in wanted or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, _, last = wanted[len("bytes=") :].partition("-")
        start, end = (int(first), int(last) if last else size - 1) if first else (max(0, size - int(last)), size - 1)
        if start >= size:
            self.send_error(416, "Requested Range Not Satisfiable")
            return None
        end = min(end, size - 1)
        handle = path.open("rb")
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return handle

    def copyfile(self, source, outputfile) -> None:
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        self._remaining = None
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``folder`` on http://127.0.0.1:PORT/ while the block runs (an ephemeral port, this machine only)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _stopped_preload(request) -> bool:
    """Chromium stops downloading a ``preload="metadata"`` audio file once it has read its header
    (``net::ERR_ABORTED`` on the media request): not a failure; the durations tell whether it loaded."""
    return request.resource_type == "media" and request.failure == "net::ERR_ABORTED"


LOOK = """async () => {
  const audios = [...document.querySelectorAll('audio')];
  await Promise.all(audios.map(a => a.readyState >= 1 ? null : new Promise(done => {
    a.addEventListener('loadedmetadata', done, {once: true});
    a.addEventListener('error', done, {once: true});
    a.load();
  })));
  const images = [...document.images];
  await Promise.all(images.map(i => i.complete ? null : new Promise(done => { i.onload = i.onerror = done; })));
  return {
    durations: audios.map(a => ({src: a.currentSrc.slice(0, 120), duration: a.duration, error: a.error && a.error.code})),
    images: images.map(i => ({src: i.currentSrc.slice(0, 120), width: i.naturalWidth})),
    scroll_width: document.documentElement.scrollWidth,
    viewport_width: window.innerWidth,
    text: document.body.innerText,
  };
}"""


def look_at(folder: Path, page: str = "index.html", size: tuple[int, int] = DESKTOP, screenshot: str | None = None, act=None) -> dict:
    """Load ``folder/page`` in Chromium at ``size`` (CSS pixels) and report what it shows.

    Returns ``durations`` (each audio element's duration in seconds), ``images`` (natural
    widths), ``errors`` (console errors and page errors), ``requests`` (every URL asked for),
    ``scroll_width`` / ``viewport_width`` and the page's ``text``. ``screenshot``: a file name
    under $STEMLIME_SCREENSHOTS for a full-page picture (when that variable is set). ``act``:
    a function given the loaded Playwright page (e.g. to click); what it returns is ``acted``.
    """
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with serve(folder) as root, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": size[0], "height": size[1]}, device_scale_factor=2 if size[0] < 500 else 1)
            view = context.new_page()
            view.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            view.on("pageerror", lambda error: errors.append(str(error)))
            view.on(
                "requestfailed",
                lambda request: None if _stopped_preload(request) else errors.append(f"failed: {request.url} ({request.failure})"),
            )
            view.on("request", lambda request: requests.append(request.url))
            view.goto(root + page, wait_until="load")
            seen = view.evaluate(LOOK)
            if act is not None:
                seen["acted"] = act(view)
            if screenshot and SCREENSHOTS is not None:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                view.screenshot(path=str(SCREENSHOTS / screenshot), full_page=True)
        finally:
            browser.close()
    return seen | {"errors": errors, "requests": requests, "root": root}


def assert_page_works(seen: dict) -> None:
    """No console errors, every audio element with a positive duration, every image loaded,
    nothing fetched from anywhere but the folder, and no horizontal scrolling."""
    assert seen["errors"] == [], seen["errors"]
    assert seen["durations"], "the page has no audio player"
    for audio in seen["durations"]:
        assert audio["error"] is None and audio["duration"] > 0, audio
    for image in seen["images"]:
        assert image["width"] > 0, image
    outside = [url for url in seen["requests"] if not (url.startswith(seen["root"]) or url.startswith("data:"))]
    assert outside == [], f"the page reaches outside its folder: {outside}"
    assert seen["scroll_width"] <= seen["viewport_width"], f"horizontal scroll: {seen['scroll_width']} > {seen['viewport_width']} px"
