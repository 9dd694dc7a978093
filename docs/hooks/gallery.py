"""MkDocs hook: the gallery's listening pages and the concepts page's picture, from real runs at build time.

Runs the README's 30-second example (a toy loudness tagger, oracle stems of the test piece
``tests/data/piece1_16k``, every mask evaluated) and saves the explanation with its listening
page into the site as ``gallery/loudness/``, plus a bar chart of its weights. Nothing is fabricated:
every number on these pages comes from this run. A second run explains the same excerpt cut into
time segments. Takes a few seconds on one core.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PIECE = ROOT / "tests" / "data" / "piece1_16k" / "mixture.wav"
_built: dict[str, Path] = {}


class Loudness:
    """The README's toy "model": how loud is the input?"""

    labels = ["loud"]
    sample_rate = 16000
    input_seconds = None

    def predict(self, batch):  # (B, samples) float32 -> (B, labels)
        return np.tanh(10 * np.sqrt((batch**2).mean(axis=1, keepdims=True)))


RUNS = {  # gallery folder -> (segmenter, title)
    "loudness": (None, "Oracle stems, whole excerpt"),
    "loudness-segments": ("uniform", "Oracle stems x 4 time segments"),
}


def _run(name: str, segmenter: str | None, into: Path) -> str:
    import stemlime

    kwargs = {"segmenter": segmenter} if segmenter else {}
    pipeline = stemlime.Pipeline(tagger=Loudness(), separator="oracle", **kwargs)
    samples = "exhaustive" if segmenter is None else 1000
    explanation = pipeline.explain(str(PIECE), start=1.0, duration=3.0, samples=samples, seed=0)
    explanation.save(into / name, report=True)
    if segmenter is None:
        _plot(explanation.weights("loud"), into / name / "weights.png")
    return explanation.summary().replace(f"{ROOT}/", "")  # paths as in the repository


def _plot(weights: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(weights)[::-1]
    values = [weights[n] for n in names]
    fig, ax = plt.subplots(figsize=(5, 2.2), dpi=80)
    ax.barh(names, values, color=["#2a7" if v >= 0 else "#c44" for v in values])
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("weight of the component for 'loud'")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def on_files(files, config):
    from mkdocs.structure.files import File

    scratch = Path(tempfile.mkdtemp(prefix="stemlime-gallery-"))
    summaries = {}
    for name, (segmenter, _title) in RUNS.items():
        summaries[name] = _run(name, segmenter, scratch)
    _built["scratch"] = scratch
    _built["summaries"] = summaries  # type: ignore[assignment]
    for path in sorted(scratch.rglob("*")):
        if path.is_file():
            uri = "gallery/" + path.relative_to(scratch).as_posix()
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "gallery/index.md":
        for name, text in _built.get("summaries", {}).items():  # type: ignore[union-attr]
            markdown = markdown.replace(f"{{{{ summary:{name} }}}}", f"```text\n{text}\n```")
    return markdown


def on_post_build(config):
    scratch = _built.pop("scratch", None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
