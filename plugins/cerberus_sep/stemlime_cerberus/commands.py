"""``stemlime train cerberus ...``: the trainer on the command line (registered by plugin.py).

Arguments are declared without importing torch; running the command imports the trainer.
"""

from __future__ import annotations

import argparse

from .config import MASKS, PRECISIONS, TRUNKS
from .losses import MASK_LOSSES
from .instruments import DEFAULT


def _defaults():
    from .trainer import Settings  # cheap: attrs only, no torch

    return Settings()


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = _defaults()
    parser.add_argument("model", choices=["cerberus"], help="what to train: cerberus")
    parser.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="DIR",
        help="stemlime-render pieces (render-dataset folder) or Slakh2100/BabySlakh tracks; repeatable",
    )
    parser.add_argument(
        "--validation", action="append", metavar="DIR", help="tracks scored after each epoch (default: 10%% of --data held out); repeatable"
    )
    parser.add_argument("--instruments", default=",".join(DEFAULT), help=f"instruments to separate, in order (default {','.join(DEFAULT)})")
    parser.add_argument("--out", required=True, help="model folder: weights.safetensors + config.json (best so far), checkpoint files")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"passes over the data (default {defaults.epochs})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"chunks per step (default {defaults.batch_size})")
    parser.add_argument(
        "--chunk-seconds", type=float, default=defaults.chunk_seconds, help=f"seconds per chunk (default {defaults.chunk_seconds:g})"
    )
    parser.add_argument(
        "--learning-rate", type=float, default=defaults.learning_rate, help=f"Adam's, cosine-decayed (default {defaults.learning_rate:g})"
    )
    parser.add_argument("--hidden", type=int, default=defaults.hidden, help=f"LSTM units per direction (default {defaults.hidden})")
    parser.add_argument("--layers", type=int, default=defaults.layers, help=f"BLSTM layers (default {defaults.layers})")
    parser.add_argument("--dropout", type=float, default=defaults.dropout, help=f"between BLSTM layers (default {defaults.dropout:g})")
    parser.add_argument(
        "--embedding",
        type=int,
        default=defaults.embedding,
        help=f"deep-clustering dimensions (default {defaults.embedding}: no such head; the paper's 20 needs a DC loss weight)",
    )
    parser.add_argument(
        "--masks",
        choices=MASKS,
        default=defaults.masks,
        help=f"the mask head: softmax (masks sum to one) or sigmoid (each source on its own; default {defaults.masks})",
    )
    parser.add_argument(
        "--trunk",
        choices=TRUNKS,
        default=defaults.trunk,
        help=f"blstm: the paper's BLSTM on the spectrogram; encoded: a linear encoder before it and a decoder after it "
        f"that also reads the encoder (as Open-Unmix; default {defaults.trunk})",
    )
    parser.add_argument(
        "--mask-loss",
        choices=MASK_LOSSES,
        default=defaults.mask_loss,
        help=f"psa: the masks against the phase-sensitive target; sisdr: the SI-SDR of the separated instruments; "
        f"snr: their SNR, which also fixes their level; sisdr-sum: their SI-SDR plus the SNR of their sum, so that "
        f"together they hold the instruments (the last three: a step costs about 1.3 times as much; default {defaults.mask_loss})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help=f"the network's number format in training steps: bfloat16 runs its products and the LSTM in bfloat16 "
        f"(torch.autocast), the weights, STFTs and losses stay float32 (default {defaults.precision})",
    )
    parser.add_argument(
        "--loss-weights",
        default=",".join(f"{w:g}" for w in defaults.loss_weights),
        metavar="DC,MI,TR",
        help="weights of deep clustering, the mask loss (--mask-loss) and transcription (default %(default)s; the paper's 0.1,0.1,0.8)",
    )
    parser.add_argument(
        "--instrument-weights",
        default="",
        metavar="W,W,...",
        help="relative weights of the instruments in the mask loss, one per instrument in --instruments' order "
        "(default: all equal; the CPU recipe's pno-gtr-bss-drm takes 1.25,1.5,1,0.5)",
    )
    parser.add_argument(
        "--remix", type=float, default=defaults.remix, help=f"share of examples remixed from several tracks (default {defaults.remix:g})"
    )
    parser.add_argument(
        "--gain-db",
        type=float,
        default=defaults.gain_db,
        help=f"each source's level drawn in +-this many dB for every example (default {defaults.gain_db:g}; the recipes take 0)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train (default auto)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads (default 1: bit-identical results on any machine, and often fastest where other "
        "processes share the cores; 0: torch's own count)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help=f"training processes on the CPU, each computing the gradient of its share of every batch "
        f"(default {defaults.workers}; results are bit-identical for one count; use one per free core)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the training in --out where it stopped")
    parser.add_argument("--force", action="store_true", help="start over, deleting the training in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _numbers(text: str) -> tuple[float, ...] | None:
    """The comma-separated numbers of ``text``, or None where one of them is not a number."""
    try:
        return tuple(float(w) for w in text.split(","))
    except ValueError:
        return None


def _loss_weights(text: str) -> tuple[float, ...]:
    from stemlime.plugin import UsageError

    weights = _numbers(text)
    if weights is None or len(weights) != 3:
        raise UsageError(f"--loss-weights takes three numbers DC,MI,TR (e.g. 0.1,0.1,0.8), got {text!r}")
    return weights


def _instrument_weights(text: str) -> tuple[float, ...]:
    from stemlime.plugin import UsageError

    if not text.strip():
        return ()
    weights = _numbers(text)
    if weights is None:
        raise UsageError(f"--instrument-weights takes one number per instrument, comma-separated (e.g. 1.25,1.5,1,0.5), got {text!r}")
    return weights


def run_train(args: argparse.Namespace) -> None:
    from .trainer import train

    result = train(
        args.data,
        args.out,
        validation=args.validation,
        device=args.device,
        resume=args.resume,
        force=args.force,
        progress=not args.no_progress,
        instruments=args.instruments,
        epochs=args.epochs,
        batch_size=args.batch_size,
        chunk_seconds=args.chunk_seconds,
        learning_rate=args.learning_rate,
        hidden=args.hidden,
        layers=args.layers,
        dropout=args.dropout,
        embedding=args.embedding,
        masks=args.masks,
        trunk=args.trunk,
        mask_loss=args.mask_loss,
        precision=args.precision,
        loss_weights=_loss_weights(args.loss_weights),
        instrument_weights=_instrument_weights(args.instrument_weights),
        remix=args.remix,
        gain_db=args.gain_db,
        seed=args.seed,
        workers=args.workers,
        threads=args.threads or None,
    )
    best = result.best
    print(
        f"trained: {result.folder} holds the best model (epoch {best['epoch']}, mean validation SI-SDR "
        f"{best['score']:.2f} dB); use it with --separator cerberus,model_dir={result.folder}"
    )
