"""Section 4 of "Towards Musically Meaningful Explanations Using Source Separation", reproduced.

    python experiments/confounder/run.py --seed 0 --out confounder-out/
    python experiments/confounder/run.py --separators oracle --train 40 --validation 8 --test-std 8 --test-bad 8 --steps 50 --out toy/

Renders the confounded splits (drums only ever with guitar), trains the guitar-vs-piano CNN,
evaluates it on every split and explains its "guitar" calls on test_bad pianos with each
separator. ``make confounder`` runs it with the defaults. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the package `confounder` lives beside this file

from confounder.data import DEFAULT_SIZES  # noqa: E402
from confounder.experiment import DEFAULT_SEPARATORS, Settings, run  # noqa: E402
from stemlime.plugin import run_guarded  # noqa: E402


def split_specs(text: str) -> tuple[str, ...]:
    """``oracle,cerberus:pno-gtr-bss-drm,device=cpu`` -> ("oracle", "cerberus:pno-gtr-bss-drm,device=cpu"):
    a part with ``=`` is an option of the spec before it."""
    specs: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if "=" in part and specs:
            specs[-1] += "," + part
        elif part:
            specs.append(part)
    return tuple(specs)


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="confounder", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path, help="the result folder (replaced whole at the end)")
    parser.add_argument("--data", type=Path, help="the folder of rendered pieces, reused across runs (default: OUT-data)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seeds the pieces, the training and the explanations (0)")
    parser.add_argument(
        "--separators",
        type=split_specs,
        default=DEFAULT_SEPARATORS,
        help=f"separator specs, comma-separated ({','.join(DEFAULT_SEPARATORS)})",
    )
    for split in DEFAULT_SIZES:
        parser.add_argument(
            f"--{split.replace('_', '-')}",
            dest=split,
            type=int,
            default=DEFAULT_SIZES[split],
            help=f"pieces in the {split} split, half guitar and half piano ({DEFAULT_SIZES[split]})",
        )
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds per piece (10)")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"training steps ({defaults.steps})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"2-s crops per step ({defaults.batch_size})")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help=f"Adam's ({defaults.learning_rate})")
    parser.add_argument("--device", default=defaults.device, help="auto, cpu or cuda: where the classifier and separators run")
    parser.add_argument(
        "--threads",
        type=int,
        default=defaults.threads,
        help=f"PyTorch's CPU threads for the classifier ({defaults.threads}: fastest on a busy machine, "
        "and the same weights on any number of cores)",
    )
    parser.add_argument("--workers", type=int, help="rendering processes (default: one per core)")
    parser.add_argument("--force", action="store_true", help="replace an --out folder that stemlime did not write")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings(
        seed=args.seed,
        sizes={split: getattr(args, split) for split in DEFAULT_SIZES},
        separators=args.separators,
        duration=args.duration,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        device=args.device,
        threads=args.threads,
        workers=args.workers,
    )
    return run_guarded(
        lambda: run(args.out, settings, args.data, force=args.force, progress=not args.no_progress), args.debug, program="confounder"
    )


if __name__ == "__main__":
    sys.exit(main())
