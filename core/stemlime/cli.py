"""The ``stemlime`` command line. Exit status: 0 success, 2 usage error, 1 any other failure."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import StemlimeError, UsageError
from .wording import one_line, plain_text


def _samples(text: str) -> int | str:
    if text in ("exhaustive", "auto"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive count, 'exhaustive' or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {value}")
    return value


def _add_excerpt(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=float, default=None, help="excerpt start in seconds (default 0)")
    parser.add_argument("--duration", type=float, default=None, help="excerpt length in seconds (default: to the end)")


def _add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The pipeline file and the four component specs (explain, check, scan, explain-dataset)."""
    parser.add_argument("--config", help="pipeline file (TOML); flags override it")
    parser.add_argument("--tagger", help="tagger spec, e.g. musicnn:MSD_musicnn")
    parser.add_argument("--separator", help="separator spec (default: oracle)")
    parser.add_argument("--segmenter", help="segmenter spec (default: whole)")
    parser.add_argument("--surrogate", help="surrogate spec (default: ridge)")


def _add_explain_arguments(parser: argparse.ArgumentParser, what: str = "audio", what_help: str = "audio file") -> None:
    """What ``explain``, ``check`` and ``explain-dataset`` share: the input, the pipeline and the neighbourhood."""
    parser.add_argument(what, help=what_help)
    _add_pipeline_arguments(parser)
    parser.add_argument("--label", action="append", help="label to explain (name or index); repeatable")
    parser.add_argument("--top-labels", type=int, help="explain the K most probable labels (default 3)")
    _add_excerpt(parser)
    parser.add_argument(
        "--samples", type=_samples, help="neighbourhood size, 'exhaustive' or 'auto' (sample until the ranking is stable; default 1000)"
    )
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--batch-size", type=int, help="perturbations per tagger call (default 32)")
    parser.add_argument("--pad", action="store_true", default=None, help="zero-pad an excerpt shorter than the tagger's input")
    parser.add_argument("--sort", choices=["signed", "absolute"], help="order weights by signed (default) or absolute value")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-cache", action="store_true", help="separate again instead of using (and filling) the stem cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stemlime", description="Listenable explanations for music models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    from .version import __version__

    parser.add_argument("--version", action="version", version=f"stemlime {__version__}")
    commands = parser.commands = parser.add_subparsers(dest="command", metavar="COMMAND")  # type: ignore[attr-defined]
    commands.required = True

    plugins = commands.add_parser("plugins", help="list separators, segmenters, taggers and surrogates")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    separate = commands.add_parser("separate", help="split audio into stems: DIR/<stem>.wav")
    separate.add_argument("audio", help="audio file")
    separate.add_argument("--separator", required=True, help="separator spec, e.g. spleeter:2stems")
    separate.add_argument("--out", required=True, help="output folder")
    separate.add_argument("--force", action="store_true", help="replace --out even if it holds files stemlime did not write")
    separate.add_argument(
        "--midi", action="store_true", help="also write DIR/<stem>.mid: the notes of a separator that transcribes (cerberus)"
    )
    _add_excerpt(separate)

    explain = commands.add_parser("explain", help="explain a tagger's prediction with stems (and segments)")
    _add_explain_arguments(explain)
    explain.add_argument("--checks", help="trust checks to run, print and save: fidelity,stability,sanity,complexity or all")
    explain.add_argument("--top-k", type=int, help="components summed in explanations/<label>.wav (default 1)")
    explain.add_argument("--quiet", action="store_true", help="no summary on stdout")
    explain.add_argument("--out", required=True, help="output folder (replaced as a whole by each run)")
    explain.add_argument("--force", action="store_true", help="replace --out even if it is a folder stemlime did not write")
    explain.add_argument("--report", action="store_true", help="also write the listening page DIR/index.html")
    _add_check_command(commands)
    _add_dataset_command(commands)
    _add_scan_command(commands)
    _add_stemgram_command(commands)
    _add_report_command(commands)

    tag = commands.add_parser("tag", help="run a tagger: taggram and clip-level probabilities")
    tag.add_argument("audio", help="audio file")
    tag.add_argument("--tagger", required=True, help="tagger spec")
    tag.add_argument("--json", action="store_true", help="print the taggram as JSON")
    tag.add_argument("--plot", help="draw the taggram into this image file (PNG)")
    tag.add_argument("--top", type=int, default=5, help="tags to print without --json (default 5)")
    _add_excerpt(tag)

    models = commands.add_parser("models", help="list, fetch and locate model files")
    model_commands = models.add_subparsers(dest="models_command", metavar="ACTION")
    model_commands.required = True
    model_commands.add_parser("list", help="every known model and whether its files are here")
    fetch = model_commands.add_parser("fetch", help="download and verify model files into the cache")
    fetch.add_argument("names", nargs="*", help="model names (see 'stemlime models list')")
    fetch.add_argument("--all", action="store_true", help="every known model that has a download source")
    fetch.add_argument("--defaults", action="store_true", help="the models plugins fetch by default (what make install fetches)")
    fetch.add_argument("--source", type=int, help="use only this source (index as listed in the error/help)")
    fetch.add_argument("--force", action="store_true", help="fetch again even if present")
    path = model_commands.add_parser("path", help="print the folder of a model's verified files")
    path.add_argument("name")
    build = model_commands.add_parser(
        "build", help="build a model's files here with its recipe (models whose weights are published nowhere)"
    )
    build.add_argument("name", help="model name (see 'stemlime models list')")
    build.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the recipe trains (default auto)")
    build.add_argument("--force", action="store_true", help="build again even if built")
    _add_plugin_commands(commands)
    return parser


def _add_plugin_commands(commands) -> None:
    """Add the commands that plugins register through the ``stemlime_commands`` hook."""
    from .registry import get_registry

    try:
        plugin_commands = get_registry().commands
    except Exception as error:  # a broken plugin must not take the core's commands down with it
        print(f"stemlime: warning: plugin commands unavailable ({type(error).__name__}: {error})", file=sys.stderr)
        return
    for name, command in sorted(plugin_commands.items()):
        if name in commands.choices:
            continue  # the core's own command wins
        sub = commands.add_parser(name, help=f"{command.help} ({command.package})", description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(plugin_command=command)


# --------------------------------------------------------------------------- commands


def cmd_plugins(args) -> None:
    from .registry import get_registry

    registry = get_registry()
    described = registry.describe()
    commands = registry.describe_commands()
    if args.json:
        print(json.dumps(described | {"commands": commands}, indent=1))
        return
    for kind, factories in described.items():
        print(f"{kind}:")
        if not factories:
            print("  (none installed)")
        for f in factories:
            variants = f" [{', '.join(f['variants'])}]" if f["variants"] else ""
            print(f"  {f['name']}{variants}  ({f['package']})")
            print(f"      {f['description']}")
            for o in f["options"]:
                default = "" if o["default"] is None else f", default {o['default']}"
                print(f"      {o['name']}=<{o['type']}{default}>  {o['description']}")
        print()
    print("commands added by plugins:")
    for c in commands:
        print(f"  stemlime {c['name']}  ({c['package']})\n      {c['help']}")
    if not commands:
        print("  (none installed)")


def cmd_separate(args) -> None:
    from .pipeline import Pipeline
    from .separation import separate

    print(
        separate(
            Pipeline(tagger=None, separator=args.separator),
            args.audio,
            args.out,
            start=args.start or 0.0,
            duration=args.duration,
            force=args.force,
            midi=args.midi,
        ).summary()
    )


def _pipeline_arguments(args) -> Any:
    """The pipeline the flags name (flags override a pipeline file)."""
    from .pipeline import Pipeline

    specs = {kind: getattr(args, kind) for kind in ("tagger", "separator", "segmenter", "surrogate")}
    settings = {"batch_size": args.batch_size, "sort": args.sort, "cache": False if args.no_cache else None}
    if args.config:
        return Pipeline.from_config(args.config, **specs, **settings)
    if not args.tagger:
        raise UsageError(f"{args.command} needs --tagger SPEC (or --config FILE with a [tagger] table); see 'stemlime plugins'")
    return Pipeline(**{k: v for k, v in (specs | settings).items() if v is not None})


def _request_arguments(args) -> dict[str, Any]:
    """The explain options the flags give (None: not given; the pipeline file's or stemlime's default)."""
    return {
        "labels": args.label,
        "top_labels": args.top_labels,
        "start": args.start,
        "duration": args.duration,
        "samples": args.samples,
        "seed": args.seed,
        "pad": args.pad,
    }


def _progress(args) -> bool | None:
    return False if args.no_progress else None


def cmd_explain(args) -> None:
    pipeline = _pipeline_arguments(args)
    explanation = pipeline.explain(
        args.audio,
        progress=_progress(args),
        checks=args.checks,
        out=args.out,
        top_k=args.top_k,
        force=args.force or None,
        report=args.report or None,
        **_request_arguments(args),
    )
    if not args.quiet:
        out = Path(args.out)
        page = f", {out / 'index.html'}" if args.report else ""
        print(f"{explanation.summary()}\n\nwrote {out / 'explanation.json'}, {out / 'components'}/, {out / 'explanations'}/{page}")


# --------------------------------------------------------------------------- trust checks


def _add_check_command(commands) -> None:
    """``stemlime check NAME AUDIO ...``: explain as ``explain`` does, then run one trust check."""
    from .config import CHECKS

    check = commands.add_parser(
        "check",
        help="how far to trust an explanation: fidelity, stability, sanity, complexity",
        description="Explain AUDIO (same arguments as 'explain'), then run one trust check and print it.",
    )
    check.add_argument("check", choices=CHECKS, help="the check to run")
    _add_explain_arguments(check)
    check.add_argument("--seeds", type=int, default=5, help="stability/sanity: explanations with consecutive seeds to compare (default 5)")
    check.add_argument("--target", type=float, help="stability: find the samples whose Kendall tau reaches this (e.g. 0.95)")
    check.add_argument("--max-samples", type=int, default=12800, help="stability --target: the most samples to try (default 12800)")
    check.add_argument("--steps", type=int, help="sanity: randomize only the top N layers (default: all)")
    check.add_argument("--draws", type=int, default=3, help="sanity: random networks drawn per step; the median counts (default 3)")
    check.add_argument("--random-orders", type=int, default=20, help="fidelity: random orders in the baseline (default 20)")
    check.add_argument("--json", action="store_true", help="print the check's result as JSON")
    check.add_argument("--out", help="also save the explanation (with the check in explanation.json) to this folder")
    check.add_argument("--force", action="store_true", help="replace --out even if it is a folder stemlime did not write")
    check.add_argument("--report", action="store_true", help="with --out: also write the listening page DIR/index.html")


def cmd_check(args) -> None:
    from . import checks as trust

    options = trust.CheckOptions(
        seeds=args.seeds,
        random_orders=args.random_orders,
        target=args.target,
        max_samples=args.max_samples,
        steps=args.steps,
        draws=args.draws,
    )
    pipeline = _pipeline_arguments(args)
    _, name, result = trust.check(
        pipeline,
        args.check,
        args.audio,
        options=options,
        batch_size=args.batch_size,
        progress=_progress(args),
        out=args.out,
        force=args.force or None,
        report=args.report or None,
        **_request_arguments(args),
    )
    print(json.dumps({name: result}, indent=1) if args.json else trust.format_checks({name: result}))


# --------------------------------------------------------------------------- many tracks


def _add_dataset_command(commands) -> None:
    """``stemlime explain-dataset DATA ... --out OUT``: every track explained, then aggregated by stem."""
    dataset = commands.add_parser(
        "explain-dataset",
        help="explain every track of a dataset (in this process or on Ray), resumably, and aggregate by stem",
        description="Explain every track of DATA as 'explain' would (same pipeline and neighbourhood arguments) into "
        "OUT/tracks/<track>/, then aggregate by stem into OUT/global.json, global.csv and global.png. "
        "A rerun skips the tracks already done with the same settings and retries the failed ones. "
        "Exit status 1 when any track failed (OUT/failures.jsonl).",
    )
    _add_explain_arguments(
        dataset, "data", "dataset folder: folders holding mixture.* or mix.* (MUSDB18, Slakh, stemlime render), else every audio file in it"
    )
    dataset.add_argument("--checks", help="trust checks to run on every track: fidelity,stability,sanity,complexity or all")
    dataset.add_argument("--top-k", type=int, default=1, help="components summed in each explanations/<label>.wav (default 1)")
    dataset.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: in this process (default); ray: on Ray workers, one pipeline loaded per worker",
    )
    dataset.add_argument(
        "--address", help="Ray cluster to join: auto (the one 'ray start' started), ray://HOST:PORT; default: start a local cluster"
    )
    dataset.add_argument("--workers", type=int, help="Ray workers (default: one per CPU of the cluster)")
    dataset.add_argument("--metadata", help="CSV with a 'track' column (e.g. track,genre): top predicted tag vs each column")
    dataset.add_argument(
        "--snippets",
        metavar="best:N",
        help="instead of one excerpt, explain each track's N tagger windows where its label (one --label, "
        "else its top label) is highest, as 'stemlime scan' does; not with --start/--duration",
    )
    dataset.add_argument("--report", action="store_true", help="also write the listening page OUT/index.html (and each track's)")
    dataset.add_argument("--out", required=True, help="output folder (new, empty, or an earlier explain-dataset run to resume)")


def cmd_explain_dataset(args) -> None:
    from .dataset import explain_dataset

    result = explain_dataset(
        _pipeline_arguments(args),
        args.data,
        args.out,
        top_k=args.top_k,
        engine=args.engine,
        address=args.address,
        workers=args.workers,
        metadata=args.metadata,
        snippets=args.snippets,
        report=args.report,
        progress=_progress(args),
        checks=args.checks,
        **_request_arguments(args),
    )
    print(result.summary())
    result.raise_for_failures()


# --------------------------------------------------------------------------- song scan and pages


def _add_scan_command(commands) -> None:
    """``stemlime scan AUDIO --label NAME ...``: the taggram of a song and its best snippets explained."""
    scan = commands.add_parser(
        "scan",
        help="tag a whole song, explain the snippets where a label is highest, write a page",
        description="Tag the whole song (the taggram), pick the N tagger input windows where the "
        "label is highest, explain each, and write scan.json, taggram.png and index.html.",
    )
    scan.add_argument("audio", help="audio file (the whole song)")
    _add_pipeline_arguments(scan)
    scan.add_argument(
        "--label",
        help="the label to follow through the song (name or index; needed unless the pipeline file names one label under [explain])",
    )
    scan.add_argument("--snippets", type=int, default=3, help="snippets to explain, where the label is highest (default 3)")
    scan.add_argument("--samples", type=_samples, help="neighbourhood size per snippet, 'exhaustive' or 'auto' (default 1000)")
    scan.add_argument("--seed", type=int, help="random seed (default 0)")
    scan.add_argument("--batch-size", type=int, help="perturbations per tagger call (default 32)")
    scan.add_argument("--sort", choices=["signed", "absolute"], help="order weights by signed (default) or absolute value")
    scan.add_argument("--top-k", type=int, help="components summed in each snippet's explanation (default 1)")
    scan.add_argument("--quiet", action="store_true", help="no summary on stdout")
    scan.add_argument("--no-progress", action="store_true", help="no progress bar")
    scan.add_argument("--no-cache", action="store_true", help="separate the song again instead of using the stem cache")
    scan.add_argument(
        "--stemgram",
        action="store_true",
        help="also the song's stemgram for the label (every frame's exact "
        "stem values, see 'stemlime stemgram'), in OUT/stemgram/ and linked from the page",
    )
    scan.add_argument("--out", required=True, help="output folder (replaced as a whole by each run)")
    scan.add_argument("--force", action="store_true", help="replace --out even if it is a folder stemlime did not write")


def cmd_scan(args) -> None:
    from .scanning import scan

    pipeline = _pipeline_arguments(args)
    if args.label is None and pipeline.explain_defaults.get("labels") is None:
        raise UsageError("scan follows one label through the song: give --label NAME (or a pipeline file with one label under [explain])")
    result = scan(
        pipeline,
        args.audio,
        label=args.label,
        snippets=args.snippets,
        samples=args.samples,
        seed=args.seed,
        progress=_progress(args),
        out=args.out,
        top_k=args.top_k,
        force=args.force or None,
        stemgram=args.stemgram,
    )
    if not args.quiet:
        out = Path(args.out)
        also = f", {out / 'stemgram'}/" if args.stemgram else ""
        print(f"{result.summary()}\nwrote {out / 'scan.json'}, {out / 'taggram.png'}, {out / 'index.html'}, {out / 'snippets'}/{also}")


def _add_stemgram_command(commands) -> None:
    """``stemlime stemgram AUDIO --label NAME ...``: exact Shapley values of each stem per taggram frame."""
    gram = commands.add_parser(
        "stemgram",
        help="each stem's exact Shapley value per taggram frame over a whole song, with stem interactions; write a page",
        description="Separate the song once, and for every tagger frame run all 2^K stem masks: "
        "the exact Shapley value of each stem for each label, f(all on), f(all off) "
        "and pairwise interactions (more than 8 stems: kernel SHAP's estimate from "
        "--samples masks a frame, no interactions). Writes stemgram.json, stemgram-N.png, the song and "
        "its stems, and index.html.",
    )
    gram.add_argument("audio", help="audio file (the whole song)")
    _add_pipeline_arguments(gram)
    gram.add_argument("--label", action="append", help="label to follow (name or index); repeatable, at least one")
    gram.add_argument("--batch-size", type=int, help="masks per tagger call (default 32; the masks of many frames go together)")
    gram.add_argument(
        "--samples",
        type=int,
        help="masks per frame drawn for kernel SHAP's estimate when the separator gives "
        "more than 8 stems (default 512); with 8 or fewer every mask runs, exactly",
    )
    gram.add_argument("--seed", type=int, default=0, help="seed of those drawn masks (default 0)")
    gram.add_argument("--quiet", action="store_true", help="no summary on stdout")
    gram.add_argument("--no-cache", action="store_true", help="separate the song again instead of using the stem cache")
    gram.add_argument("--out", required=True, help="output folder (replaced as a whole by each run)")
    gram.add_argument("--force", action="store_true", help="replace --out even if it is a folder stemlime did not write")


def cmd_stemgram(args) -> None:
    from .stemgrams import stemgram

    if not args.label:
        raise UsageError("stemgram follows labels through the song: give --label NAME (repeatable)")
    args.sort = None
    pipeline = _pipeline_arguments(args)
    result = stemgram(
        pipeline,
        args.audio,
        labels=args.label,
        out=args.out,
        force=args.force,
        batch_size=args.batch_size,
        samples=args.samples,
        seed=args.seed,
    )
    if not args.quiet:
        out = Path(args.out)
        print(f"{result.summary()}\nwrote {out / 'stemgram.json'}, {out / 'index.html'}")


def _add_report_command(commands) -> None:
    report = commands.add_parser(
        "report",
        help="write the listening page DIR/index.html of a result folder",
        description="Turn a result folder (explain, check --out, scan, separate, explain-dataset) "
        "into DIR/index.html, a page that works offline.",
    )
    report.add_argument("dir", help="a result folder written by stemlime")
    report.add_argument("--embed", action="store_true", help="put the audio and pictures inside the page (it travels alone)")


def cmd_report(args) -> None:
    from .report import render_report

    print(render_report(args.dir, embed=args.embed))


def cmd_tag(args) -> None:
    from .pipeline import Pipeline
    from .tagging import check_plot_path, plot_taggram

    from .validators import whole_number

    whole_number(args.top, "top", minimum=1, flag="--top")
    if args.plot:
        check_plot_path(args.plot)
    pipeline = Pipeline(tagger=args.tagger)
    values, hop = pipeline.taggram(args.audio, start=args.start or 0.0, duration=args.duration)
    labels = pipeline.tagger_labels
    mean = values.mean(axis=0)
    if args.plot:
        plot_taggram(values, labels, hop, args.plot, title=pipeline.specs["tagger"])
    if args.json:
        print(
            json.dumps(
                {
                    "tagger": pipeline.specs["tagger"],
                    "labels": labels,
                    "hop_seconds": hop,
                    "taggram": values.tolist(),
                    "mean": mean.tolist(),
                }
            )
        )
        return
    print(f"{pipeline.specs['tagger']} on {args.audio}: {values.shape[0]} frame(s) of {hop:.3f} s")
    for index in mean.argsort()[::-1][: args.top]:
        print(f"  {mean[index]:.3f}  {labels[index]}")
    if args.plot:
        print(f"taggram drawn to {args.plot}")


def cmd_models(args) -> None:
    from .models import model_store

    store = model_store()
    if args.models_command == "list":
        if not store.models:
            print("no model files are declared by the installed plugins")
        for name in sorted(store.models):
            model = store.models[name]
            print(f"{name}: {store.status(name)}\n    {model.description}")
    elif args.models_command == "path":
        print(store.path(args.name))
    elif args.models_command == "build":
        import time

        if not args.force and store.is_built(args.name):
            print(f"{args.name}: {store.cache_folder(args.name)} (built before; --force builds it again)")
            return
        started = time.perf_counter()
        folder = store.build(args.name, device=args.device, force=args.force)
        print(f"{args.name}: built in {time.perf_counter() - started:.0f} s: {folder}")
    else:
        if args.names and (args.all or args.defaults):
            raise UsageError(f"give model names ({' '.join(args.names)}) or {'--all' if args.all else '--defaults'}, not both")
        if args.all or args.defaults:
            names = sorted(n for n, m in store.models.items() if m.sources and (args.all or m.fetch_by_default))
        else:
            names = args.names
            if not names:
                raise UsageError("name the models to fetch, or give --all or --defaults; see 'stemlime models list'")
        for name in names:
            folder = store.fetch(name, source=args.source, force=args.force)
            print(f"{name}: {folder}")


COMMANDS = {"plugins": cmd_plugins, "separate": cmd_separate, "explain": cmd_explain, "tag": cmd_tag, "models": cmd_models}
COMMANDS["check"] = cmd_check
COMMANDS["explain-dataset"] = cmd_explain_dataset
COMMANDS["scan"] = cmd_scan
COMMANDS["stemgram"] = cmd_stemgram
COMMANDS["report"] = cmd_report


def _fail(message: str, code: int, program: str = "stemlime") -> int:
    if sys.stderr.isatty():  # a progress bar's last fragment: cleared, so that the message starts its own line
        print("\r\x1b[K", end="", file=sys.stderr)
    print(f"{program}: error: {plain_text(message)}", file=sys.stderr)
    return code


def _unknown_command(argv: Sequence[str], parser: argparse.ArgumentParser) -> str | None:
    """What to say when ``argv`` names a command that neither stemlime nor an installed plugin
    has (plugin packages add commands; the core names none of them)."""
    import difflib

    name = next((word for word in argv if not word.startswith("-")), None)
    known = list(parser.commands.choices)  # type: ignore[attr-defined]  # the core's commands and the installed plugins'
    if name is None or name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1)
    return (
        f"'stemlime {name}' is not a command of stemlime or of an installed plugin"
        + (f" (did you mean 'stemlime {close[0]}'?)" if close else "")
        + f". Commands here: {', '.join(known)}. "
        "Plugin packages add commands of their own: `stemlime plugins` lists the installed ones; in a stemlime clone, "
        "`make install` installs every plugin, or `pip install ./plugins/<folder>` one of them."
    )


# Importing torch makes about a million long-lived objects, and with CPython's default
# threshold (700) the cyclic collector walks them some 400 times in one cold `stemlime explain`
# (0.2-0.6 s of CPU). A command collects less often (cycles still go); the caller's threshold
# is put back when it returns.
GC_THRESHOLD = (50_000, 20, 100)


def main(argv: Sequence[str] | None = None) -> int:
    import gc

    threshold = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the plugins' commands load, before a command runs
        return _fail("interrupted", 130)
    finally:
        gc.set_threshold(*threshold)


def script() -> None:
    """The ``stemlime`` command (and ``python -m stemlime``): :func:`main`, then :func:`quick_exit`."""
    quick_exit(main())


def quick_exit(code: int) -> None:
    """End the process with ``code`` once a command has returned, skipping CPython's final
    teardown when torch is loaded: freeing torch's modules one by one took 0.7 s of a cold
    ``stemlime explain`` here (``python -c "import torch"`` 3.09 s against 2.37 s with
    ``os._exit``). Nothing is lost: every result is written and closed before the command
    returns, the ``atexit`` handlers (Ray's shutdown, multiprocessing, logging, temporary
    folders) run first, and stdout and stderr are flushed. For the command line only: Python
    callers of :func:`main` keep their process."""
    if "torch" not in sys.modules:
        sys.exit(code)
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (stemlime ... | head) or a closed stream
            pass
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    unknown = _unknown_command(argv, parser)
    if unknown:
        return _fail(unknown, 2)
    args = parser.parse_args(argv)  # exits with status 2 on a usage error
    empty = _empty_argument(argv)
    if empty:
        return _fail(empty, 2)
    return run_guarded(lambda: (COMMANDS.get(args.command) or args.plugin_command.run)(args), args.debug)


def _empty_argument(argv: Sequence[str]) -> str | None:
    """What to say when an argument is an empty string (``--out ""``, an unset shell variable):
    no flag or file of stemlime takes an empty value, and an empty path would mean the current
    folder."""
    for index, word in enumerate(argv):
        if word.strip():
            continue
        before = argv[index - 1] if index else ""
        named = f"{before} was given an empty value" if before.startswith("--") else f"the argument after {before!r} is empty"
        return f"{named} (an unset shell variable?); give it a value"
    for word in argv:
        if word.startswith("--") and "=" in word and not word.partition("=")[2].strip():
            return f"{word.partition('=')[0]} was given an empty value; give it a value"
    return None


SIGPIPE_STATUS = 141  # what a shell reports for a program ended by SIGPIPE (128 + 13)


def _closed_pipe() -> int:
    """Leave quietly after the reader of stdout went away: nothing more is written, and the
    interpreter's last flush of stdout must not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (a test's capture): nothing to redirect
        pass
    return SIGPIPE_STATUS


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, like an error: no source file, no code line."""
    print(f"stemlime: warning: {one_line(str(message))}", file=sys.stderr)


def run_guarded(run: Callable[[], object], debug: bool = False, program: str = "stemlime") -> int:
    """Call ``run()`` the way every stemlime command runs: the exit status (0 success, 2 usage
    error, 1 other failure, 130 interrupted), the message alone on stderr, each warning as one
    line (the caller's warning display is put back after), tracebacks only with ``debug``.
    Scripts built on stemlime (``experiments/confounder/run.py``) use it too."""
    try:
        with warnings.catch_warnings():  # restores warnings.showwarning on the way out
            warnings.showwarning = _show_warning
            run()
    except UsageError as error:
        if debug:
            raise
        return _fail(str(error), 2, program)
    except StemlimeError as error:
        if debug:
            raise
        return _fail(str(error), 1, program)
    except KeyboardInterrupt:
        return _fail("interrupted", 130, program)
    except BrokenPipeError:  # the reader left early (stemlime ... | head): as other tools do, stop quietly
        return _closed_pipe()
    except Exception as error:  # a bug, not a user mistake: still one paragraph, traceback on request
        if debug:
            raise
        return _fail(f"unexpected {type(error).__name__}: {error}. Run again with --debug for the traceback and report it.", 1, program)
    return 0


if __name__ == "__main__":
    sys.exit(main())
