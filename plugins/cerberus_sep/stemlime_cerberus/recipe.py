"""The recipes that build the default models here: render a training set, train, install.

Cerberus's published weights do not exist, so ``stemlime models build cerberus/<variant>``
renders seeded pieces with stemlime-render (16 kHz, the variant's instruments), trains on them
with validation on other seeds, and the model store installs the best checkpoint. Seeds:
training pieces 0..N-1, validation pieces from VALIDATION_SEED, and ``make bench`` scores
pieces from BENCH_SEED, which no recipe renders. Work (rendered pieces, the training
checkpoint) stays in the build folder until the model is installed: an interrupted build
resumes where it stopped.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import attrs

from stemlime.plugin import StemlimeError
from stemlime.plugin import write_atomically

from .config import CONFIG, FILES
from .instruments import NAMED_VARIANTS, parse_instruments
from .trainer import CHECKPOINT_JSON, Settings, train, trains_on_gpu

VALIDATION_SEED = 500_000
BENCH_SEED = 900_000
DURATION = "about 40 minutes on a free 2-core CPU (render and train on both cores; longer where other processes share it)"
# Trained in this many data-parallel processes on the CPU, whatever the machine: the model is then
# the same, bit for bit, on any machine with these CPU kernels (the result depends on the count).
WORKERS = 2
EPOCHS = 13


@attrs.frozen
class Plan:
    """What a recipe renders and how it trains."""

    instruments: tuple[str, ...]
    pieces: int = 1920
    validation_pieces: int = 8
    seconds: float = 10.0
    # the trainer's network and optimizer defaults, its own epochs, two workers (chosen by measurement:
    # see the README's cerberus section)
    settings: Settings = attrs.field(
        default=attrs.Factory(lambda plan: Settings(instruments=plan.instruments, epochs=EPOCHS, workers=WORKERS), takes_self=True)
    )

    def to_dict(self) -> dict:
        return {
            "instruments": list(self.instruments),
            "pieces": self.pieces,
            "seeds": [0, self.pieces - 1],
            "validation_pieces": self.validation_pieces,
            "validation_seeds": [VALIDATION_SEED, VALIDATION_SEED + self.validation_pieces - 1],
            "seconds": self.seconds,
            "renderer": "stemlime-render (TimGM6mb.sf2, 16 kHz)",
        }


PLANS = {variant: Plan(parse_instruments(variant)) for variant in NAMED_VARIANTS}


def build(plan: Plan, folder: Path, work: Path, device: str = "auto", progress: bool | None = None) -> None:
    """Render ``plan``'s pieces into ``work``, train there, and put the model's files into ``folder``."""
    try:
        from stemlime_render import render_dataset
    except ImportError:
        raise StemlimeError(
            "the Cerberus recipe renders its training pieces with stemlime-render, which is not installed: "
            "make install, or pip install ./plugins/midi_render"
        ) from None
    progress = sys.stderr.isatty() if progress is None else progress
    instruments = ",".join(plan.instruments)
    rate = plan.settings.sample_rate
    render_dataset(work / "train", plan.pieces, 0, plan.seconds, [instruments], sample_rate=rate, progress=progress)
    render_dataset(
        work / "validation", plan.validation_pieces, VALIDATION_SEED, plan.seconds, [instruments], sample_rate=rate, progress=progress
    )
    model = work / "model"
    resume = (model / CHECKPOINT_JSON).is_file()
    settings = plan.settings
    if settings.workers > 1 and trains_on_gpu(device):
        settings = attrs.evolve(settings, workers=1)  # the GPU takes the whole batch in one process
    train([work / "train"], model, settings, validation=[work / "validation"], device=device, resume=resume, progress=progress)
    for name in FILES:
        shutil.copy2(model / name, folder / name)
    document = json.loads((folder / CONFIG).read_text())
    document["recipe"] = plan.to_dict()
    write_atomically(folder / CONFIG, lambda path: path.write_text(json.dumps(document, indent=1) + "\n"))
