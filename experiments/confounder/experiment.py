"""Section 4, end to end: render the confounded splits, train the classifier, evaluate it, explain it.

    from confounder.experiment import Settings, run
    summary = run("confounder-out/", Settings(seed=0, separators=("oracle",)))

The result folder (written whole through :class:`stemlime.fs.ResultFolder`, kind
``experiment``; the rendered data stays outside it, in its own resumable folder)::

    index.html                   the page (stemlime.report, kind experiment): splits, examples, the caught example
    summary.json                 the numbers other tools read (exactly the keys of SUMMARY_KEYS)
    run.json                     settings, seeds, timings, training history, versions
    pieces.json                  every piece: split, class, seed, p(piano) per 2-s window and mean
    classifier/                  model.safetensors + config.json (load with GuitarPianoTagger.load)
    examples/<split>/<class>.wav the first guitar and piano piece of each split
    explanations/<separator>/<split>/<class>-NNN/   one Explanation.save folder (and its page) per explained piece

Explanations: every test_bad piano piece the classifier calls "guitar" (mean p(piano) < 0.5) is
explained for the label ``guitar`` on its first 2 s, with each separator (``oracle``: the piece's
true stems), every mask (``samples="exhaustive"``), through ``stemlime.Pipeline.explain``. As a
control, so is every test_std guitar piece.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import attrs
import numpy as np

import stemlime
from stemlime.plugin import ResultFolder, UsageError, check_destination, check_device, get_registry, safe_name, write_wav

from . import classifier as cnn
from .data import CLASSES, DEFAULT_SIZES, DURATION, SAMPLE_RATE, SPLITS, Piece, check_sizes, render_splits
from .record import ExperimentRecord, write_experiment
from .separators import prepare_separators

SUMMARY_KEYS = ("accuracy", "accuracy_by_class", "predictions", "confounder", "control")
DEFAULT_SEPARATORS = ("oracle", "cerberus:pno-gtr-bss-drm")
EXPLAINED_LABEL = "guitar"
EXPLAIN_SECONDS = 2.0  # the first 2 s of a piece: one window of the classifier
CONFOUND = "drums"  # the stem that only ever came with guitar in training
KIND = "experiment"


@attrs.frozen
class Settings:
    """Everything a run depends on. Sizes are pieces per split (half guitar, half piano)."""

    seed: int = 0
    sizes: Mapping[str, int] = attrs.field(factory=lambda: dict(DEFAULT_SIZES), converter=dict)
    separators: tuple[str, ...] = attrs.field(default=DEFAULT_SEPARATORS, converter=tuple)
    duration: float = DURATION  # seconds per piece
    steps: int = 600  # training steps
    batch_size: int = 32
    learning_rate: float = 1e-3
    device: str = "auto"
    threads: int = 1  # PyTorch's CPU threads for the classifier (see stemlime.workers.torch_threads)
    workers: int | None = None  # rendering processes (default: one per core)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self) | {"separators": list(self.separators)}


def default_data_folder(out: str | Path) -> Path:
    """Where a run keeps its rendered pieces unless told: ``<out>-data`` beside the result folder."""
    out = Path(out)
    return out.with_name(out.name + "-data")


def check_settings(settings: Settings) -> None:
    """Refuse bad settings before anything is rendered or trained."""
    check_sizes(settings.sizes)
    if isinstance(settings.seed, bool) or not isinstance(settings.seed, int) or settings.seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {settings.seed!r}")
    if not settings.duration >= EXPLAIN_SECONDS:
        raise UsageError(f"pieces must be at least {EXPLAIN_SECONDS:g} s long, got {settings.duration:g}")
    if settings.steps < 1 or settings.batch_size < 1 or not settings.learning_rate > 0:
        raise UsageError(
            f"steps and batch size must be >= 1 and the learning rate > 0, got steps={settings.steps}, "
            f"batch_size={settings.batch_size}, learning_rate={settings.learning_rate}"
        )
    if isinstance(settings.threads, bool) or not isinstance(settings.threads, int) or settings.threads < 1:
        raise UsageError(f"threads must be a whole number >= 1, got {settings.threads!r}")
    check_device(settings.device, "the confounder classifier")
    if not settings.separators:
        raise UsageError("name at least one separator (e.g. oracle)")
    registry = get_registry()
    for spec in settings.separators:
        try:
            registry.resolve("separator", spec)  # unknown names, variants and options fail here
        except UsageError as error:
            raise UsageError(f"{error} Choose the separators with --separators (e.g. --separators oracle).") from None


def run(
    out: str | Path,
    settings: Settings = Settings(),
    data: str | Path | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    """Run the experiment into ``out`` (replaced whole at the end); the summary (``summary.json``).

    ``data`` is the folder of rendered pieces (default :func:`default_data_folder`); pieces
    already there are reused. Separators whose model files are missing are built first (their
    recipe) or fetched, with a message (see :mod:`confounder.separators`).
    """
    started = time.perf_counter()
    check_settings(settings)
    data = Path(data) if data is not None else default_data_folder(out)
    check_destination(out, [data], force)
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    prepare_separators(settings.separators, settings.device, log=log)
    timings["prepare_separators"] = time.perf_counter() - clock

    clock = time.perf_counter()
    log(f"rendering the splits into {data} ({', '.join(f'{s} {n}' for s, n in settings.sizes.items())} pieces)")
    splits = render_splits(data, settings.sizes, settings.seed, settings.duration, settings.workers, progress)
    audio = {piece.name: piece.mixture() for pieces in splits.values() for piece in pieces}
    timings["render"] = time.perf_counter() - clock

    clock = time.perf_counter()
    log(f"training the classifier ({settings.steps} steps of {settings.batch_size} 2-s crops)")
    targets = {split: [int(p.label == "piano") for p in pieces] for split, pieces in splits.items()}
    tagger, history = cnn.train(
        [audio[p.name] for p in splits["train"]],
        targets["train"],
        seed=settings.seed,
        steps=settings.steps,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        device=settings.device,
        threads=settings.threads,
        validation=([audio[p.name] for p in splits["validation"]], targets["validation"]),
        progress=progress,
    )
    timings["train"] = time.perf_counter() - clock

    clock = time.perf_counter()
    predictions = {}
    for pieces in splits.values():
        for piece in pieces:
            mean, per_window = tagger.piece_probability(audio[piece.name])
            predictions[piece.name] = {"p_piano": mean, "windows": [float(p) for p in per_window]}
    summary = evaluate(splits, predictions)
    timings["evaluate"] = time.perf_counter() - clock
    log("accuracy: " + ", ".join(f"{split} {summary['accuracy'][split]:.3f}" for split in SPLITS))

    confounded = confounded_pieces(splits, predictions)
    controls = [p for p in splits["test_std"] if p.label == "guitar"]
    with ResultFolder(out, kind=KIND, inputs=[data], force=force) as folder:
        tagger.save(folder / "classifier")
        explained: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for spec in settings.separators:
            clock = time.perf_counter()
            log(f"explaining {len(confounded)} confounded and {len(controls)} control pieces with {spec}")
            pipeline = stemlime.Pipeline(tagger=tagger, separator=spec)
            explained[spec] = {
                "confounder": [explain_piece(pipeline, piece, folder, spec, settings.seed) for piece in confounded],
                "control": [explain_piece(pipeline, piece, folder, spec, settings.seed) for piece in controls],
            }
            timings[f"explain {spec}"] = time.perf_counter() - clock
        summary |= summarize_explanations(explained)
        write_examples(splits, folder)
        timings["total"] = time.perf_counter() - started
        pieces_table = [piece_record(piece, predictions[piece.name]) for pieces in splits.values() for piece in pieces]
        write_experiment(
            folder,
            ExperimentRecord(
                {key: summary[key] for key in SUMMARY_KEYS}, pieces_table, run_record(settings, data, splits, history, timings, explained)
            ),
        )
        from stemlime.plugin import render_report  # scipy and jinja2: only once there is a page to make

        render_report(folder, kind=KIND)  # index.html, and the page of every explanation folder in it
    log(f"wrote {out} in {timings['total']:.0f} s")
    return {key: summary[key] for key in SUMMARY_KEYS}


def evaluate(splits: Mapping[str, Sequence[Piece]], predictions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``accuracy``, ``accuracy_by_class`` and ``predictions`` (mean p(piano) per class) of every split.

    A piece is called "piano" when its mean p(piano) over its 2-s windows is at least 0.5.
    """
    accuracy, by_class, means = {}, {}, {}
    for split in SPLITS:
        correct = {label: [] for label in CLASSES}
        p_piano = {label: [] for label in CLASSES}
        for piece in splits[split]:
            p = predictions[piece.name]["p_piano"]
            correct[piece.label].append((p >= 0.5) == (piece.label == "piano"))
            p_piano[piece.label].append(p)
        accuracy[split] = float(np.mean(correct["guitar"] + correct["piano"]))
        by_class[split] = {label: float(np.mean(correct[label])) for label in CLASSES}
        means[split] = {label: float(np.mean(p_piano[label])) for label in CLASSES}
    return {"accuracy": accuracy, "accuracy_by_class": by_class, "predictions": means}


def confounded_pieces(splits: Mapping[str, Sequence[Piece]], predictions: Mapping[str, Mapping[str, Any]]) -> list[Piece]:
    """The test_bad piano pieces (piano with drums) that the classifier calls "guitar"."""
    return [p for p in splits["test_bad"] if p.label == "piano" and predictions[p.name]["p_piano"] < 0.5]


def explanation_folder(folder: Path, spec: str, piece: Piece) -> Path:
    return folder / "explanations" / safe_name(spec) / piece.split / f"{piece.label}-{piece.index:03d}"


def explain_piece(pipeline: stemlime.Pipeline, piece: Piece, folder: Path, spec: str, seed: int) -> dict[str, Any]:
    """Explain ``guitar`` on the piece's first 2 s with every mask; save it; what the summary needs."""
    explanation = pipeline.explain(
        piece.mixture_path, start=0.0, duration=EXPLAIN_SECONDS, labels=[EXPLAINED_LABEL], samples="exhaustive", seed=seed, progress=False
    )
    target = explanation_folder(folder, spec, piece)
    explanation.save(target)
    top = explanation.top(EXPLAINED_LABEL, 1)
    return {
        "piece": piece.name,
        "folder": target.relative_to(folder).as_posix(),
        "top": top[0][0] if top else None,
        "p_guitar": explanation.label(EXPLAINED_LABEL).prediction,
        "stems": [component.name for component in explanation.components],
    }


def summarize_explanations(explained: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]) -> dict[str, Any]:
    """``confounder`` {spec: {explained, drums_top}} and ``control`` {spec: {explained, top_counts}}.

    ``drums_top`` is the fraction of explained confounded pieces whose top positive component
    for ``guitar`` is drums (None when none was explained). ``top_counts`` counts the control
    pieces by their top positive component, every stem of the separator listed (0 included);
    ``none`` counts explanations without any positive component, listed only when there are some.
    """
    confounder, control = {}, {}
    for spec, results in explained.items():
        bad = results["confounder"]
        confounder[spec] = {"explained": len(bad), "drums_top": float(np.mean([r["top"] == CONFOUND for r in bad])) if bad else None}
        stems = sorted({stem for r in results["control"] for stem in r["stems"]})
        counts = {stem: sum(r["top"] == stem for r in results["control"]) for stem in stems}
        missing = sum(r["top"] is None for r in results["control"])
        control[spec] = {"explained": len(results["control"]), "top_counts": counts | ({"none": missing} if missing else {})}
    return {"confounder": confounder, "control": control}


def write_examples(splits: Mapping[str, Sequence[Piece]], folder: Path) -> None:
    """The first guitar and the first piano piece of each split, for the page's players."""
    for split, pieces in splits.items():
        for label in CLASSES:
            piece = next(p for p in pieces if p.label == label)
            write_wav(folder / "examples" / split / f"{label}.wav", piece.mixture(), SAMPLE_RATE)


def piece_record(piece: Piece, prediction: Mapping[str, Any]) -> dict[str, Any]:
    called = "piano" if prediction["p_piano"] >= 0.5 else "guitar"
    return {
        "piece": piece.name,
        "split": piece.split,
        "label": piece.label,
        "index": piece.index,
        "seed": piece.seed,
        "instruments": list(piece.instruments),
        "folder": str(piece.folder.resolve()),
        "p_piano": prediction["p_piano"],
        "windows": prediction["windows"],
        "predicted": called,
        "correct": called == piece.label,
    }


def run_record(
    settings: Settings,
    data: Path,
    splits: Mapping[str, Sequence[Piece]],
    history: list[dict[str, float]],
    timings: Mapping[str, float],
    explained: Mapping[str, Any],
) -> dict[str, Any]:
    import torch

    first_seeds = {
        split: {label: next(p.seed for p in pieces if p.label == label) for label in CLASSES} for split, pieces in splits.items()
    }
    return {
        "settings": settings.to_dict(),
        "data": str(data.resolve()),
        "first_seeds": first_seeds,
        "explained_label": EXPLAINED_LABEL,
        "explain_seconds": EXPLAIN_SECONDS,
        "window_seconds": cnn.WINDOW_SECONDS,
        "samples": "exhaustive",
        "history": history,
        "timings_seconds": {key: round(value, 2) for key, value in timings.items()},
        "explanations": explained,
        "versions": {
            "stemlime": stemlime.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
    }
