"""The recipes that build the default models here: render a training set, train, install.

Cerberus's published weights do not exist, so ``stemlime models build cerberus/<variant>``
renders seeded pieces with stemlime-render (16 kHz, the variant's instruments), trains on them
with validation on other seeds, and the model store installs the best checkpoint. Two plans:
the CPU's (PLANS, the default: a 2 x 192 network with encoder and decoder in two data-parallel processes) and, where the
build trains on a GPU (``--device cuda``, or ``auto`` on a machine with one), the GPU's
(GPU_PLANS: the paper's 4 x 300 network on more pieces, for more steps). Seeds:
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
from typing import Any, Callable

import attrs

from stemlime.plugin import StemlimeError
from stemlime.plugin import write_atomically

from .config import CONFIG, FILES
from .instruments import NAMED_VARIANTS, parse_instruments
from .trainer import CHECKPOINT_JSON, Settings, computes_bfloat16, train, trains_on_gpu

VALIDATION_SEED = 500_000
BENCH_SEED = 900_000
DURATION = (
    "about 38 minutes on a free 2-core CPU (render and train on both cores; about as long in float32, with fewer epochs, "
    "where the CPU has no bfloat16 arithmetic; longer where other processes share it); "
    "with a GPU (--device cuda), a 4 x 300 network sized for about 15 minutes on an H100 and 16 cores (not yet measured there)"
)
# Trained in this many data-parallel processes on the CPU, whatever the machine: the model is then
# the same, bit for bit, on any machine with these CPU kernels (the result depends on the count).
WORKERS = 2
# 7,200 steps of 16 chunks, 37.3 minutes on 2 cores (2026-12-07; without random gains 33.2 minutes on a faster machine, without remixing too 33.4 minutes, and weighing the instruments 33.0): the trainer's default network (2 x 192, encoded
# trunk) on its default loss (each stem's SI-SDR and the SNR of their sum) took 162 to 187 s an epoch of 600 steps
# in two workers in bfloat16 (the validation on 32 pieces included), where float32 took 204 to 235 s on the SNR loss (10 epochs, 37.8 minutes, 2026-12-06)
# for as much quality per step (docs)
EPOCHS = 12
# the CPU plan's number format where the CPU computes it (trainer.computes_bfloat16); elsewhere float32, for the
# epochs that fit the same time (the previous recipe's)
CPU_PRECISION = "bfloat16"
FLOAT32_EPOCHS = 10
# No random level per source on top of the pieces' own (the trainer's gain_db, 6 dB by default): the rendered
# pieces draw each part's level already, and at 1,200 steps the recipe's network learned 0.0 to 0.3 dB more on
# the bench's pieces without it, at two seeds (docs, 2026-12-07)
GAIN_DB = 0.0
# No remixing either (the trainer's remix, 0.5 by default): each example keeps one piece's parts together, as the
# separator meets them. At 1,200 steps, without random gains, the recipe's network learned 0.14 to 0.40 dB more on
# the bench's pieces than with half the examples remixed, at two seeds (docs, 2026-12-07)
REMIX = 0.0
# The instruments' relative weights in the loss (the trainer's instrument_weights; others weigh 1): the network
# separates drums nearest the ceiling and guitar furthest from it, so the CPU plan spends more of its steps on guitar
# and piano. At 1,200 steps (no random gains, no remixing) these weights learned 0.13 and 0.18 dB more on the bench's
# piano and guitar, 0.04 and 0.43 dB less on bass and drums (docs, 2026-12-07). The GPU plan, whose larger network
# is to come within 1 dB of every instrument, weighs them equally.
INSTRUMENT_WEIGHTS = {"piano": 1.25, "guitar": 1.5, "bass": 1.0, "drums": 0.5}
# The GPU's plan: the paper's network size, twice the CPU's pieces and batch, one process (a GPU
# takes the whole batch). Sized from estimates (a step ~25 ms, batches drawn ahead on the CPU,
# rendering on 16 cores: 218 s on 2 here), to be checked by bench/device's recipe section on the
# next GPU machine. Its pieces take about 10 GB of memory.
GPU_PIECES = 4000
GPU_EPOCHS = 32  # 625 steps an epoch (4,000 pieces x 5 chunks / 32): 20,000 steps
GPU_SETTINGS = {
    "gain_db": GAIN_DB,
    "remix": REMIX,
    "hidden": 300,
    "layers": 4,
    "dropout": 0.3,
    "trunk": "blstm",
    "batch_size": 32,
    "learning_rate": 1e-3,
    "workers": 1,
}


@attrs.frozen
class Plan:
    """What a recipe renders and how it trains."""

    instruments: tuple[str, ...]
    pieces: int = 1920
    # the epochs are scored and the decoding thresholds chosen on them (8 chose a guitar threshold off the top: docs)
    validation_pieces: int = 32
    seconds: float = 10.0
    kind: str = "cpu"  # the machine the plan is sized for ("cpu" or "gpu"); its work folder's name
    # the trainer's network and optimizer defaults, its own epochs, two workers, no random gains, no remixing (chosen by measurement:
    # see the README's cerberus section)
    settings: Settings = attrs.field(
        default=attrs.Factory(
            lambda plan: Settings(
                instruments=plan.instruments,
                epochs=EPOCHS,
                workers=WORKERS,
                precision=CPU_PRECISION,
                gain_db=GAIN_DB,
                remix=REMIX,
                instrument_weights=tuple(INSTRUMENT_WEIGHTS.get(name, 1.0) for name in plan.instruments),
            ),
            takes_self=True,
        )
    )

    def settings_on(self, device: str) -> Settings:
        """The settings a build on ``device`` trains with: the plan's, or where the machine would
        emulate the plan's bfloat16 (slower than float32 there), float32 for at most
        FLOAT32_EPOCHS, which take as long as the plan's epochs in bfloat16."""
        if self.settings.precision == "bfloat16" and not computes_bfloat16(device):
            return attrs.evolve(self.settings, precision="float32", epochs=min(self.settings.epochs, FLOAT32_EPOCHS))
        return self.settings

    @property
    def steps_per_epoch(self) -> int:
        """Training steps an epoch, counted as the trainer counts them (:func:`.batches.visits`,
        ``Batches.steps_per_epoch``) on pieces of ``seconds``."""
        rate = self.settings.sample_rate
        visits = max(1, int(round(self.seconds * rate)) // int(round(self.settings.chunk_seconds * rate)))
        return max(1, self.pieces * visits // self.settings.batch_size)

    def to_dict(self) -> dict:
        return {
            "instruments": list(self.instruments),
            "pieces": self.pieces,
            "seeds": [0, self.pieces - 1],
            "validation_pieces": self.validation_pieces,
            "validation_seeds": [VALIDATION_SEED, VALIDATION_SEED + self.validation_pieces - 1],
            "seconds": self.seconds,
            "sized_for": self.kind,
            "renderer": "stemlime-render (TimGM6mb.sf2, 16 kHz)",
        }


def gpu_plan(instruments: tuple[str, ...]) -> Plan:
    """The plan of a build that trains on a GPU."""
    settings = Settings(instruments=instruments, epochs=GPU_EPOCHS, **GPU_SETTINGS)
    return Plan(instruments, pieces=GPU_PIECES, kind="gpu", settings=settings)


PLANS = {variant: Plan(parse_instruments(variant)) for variant in NAMED_VARIANTS}
GPU_PLANS = {variant: gpu_plan(parse_instruments(variant)) for variant in NAMED_VARIANTS}


def plan_for(variant: str, device: str) -> Plan:
    """The plan that builds ``variant`` on ``device`` (auto, cpu or cuda): the GPU's where the
    training runs on a GPU, else the CPU's."""
    return (GPU_PLANS if trains_on_gpu(device) else PLANS)[variant]


PLAN_RECORD = "plan.json"  # in a build's work folder: the plan and settings its pieces and training were started with
RENDERING = ("instruments", "seconds", "renderer")  # the plan's fields that its rendered pieces depend on (their count aside)


def _resumes(work: Path, record: dict[str, Any]) -> bool:
    """Whether the training checkpoint in ``work`` continues: only one that this plan, with these
    settings, started. Work that another plan left (a build interrupted before stemlime was
    updated, or the float32 variant of the plan) starts over, said on stderr: the pieces are kept
    where the plan renders them alike (more validation pieces are added to them), the training is
    not. Then records ``record`` there for the next attempt."""
    path = work / PLAN_RECORD
    record = json.loads(json.dumps(record))  # as it reads back
    try:
        earlier = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):  # written atomically, so only a damaged disk: as if there were none
        earlier = None
    started = (work / "model" / CHECKPOINT_JSON).is_file()
    if (started or earlier is not None) and earlier != record:
        before, now = (earlier or {}).get("plan", {}), record["plan"]
        rendered_alike = all(before.get(k) == now[k] for k in RENDERING) and all(
            before.get(k, 0) <= now[k]
            for k in ("pieces", "validation_pieces")  # the trainer reads every piece rendered
        )
        kept = "its pieces are kept, its training starts over" if rendered_alike else "it starts over"
        print(f"the unfinished build in {work} was started by another recipe (an earlier stemlime?): {kept}", file=sys.stderr)
        for name in ("model",) if rendered_alike else ("model", "train", "validation"):
            shutil.rmtree(work / name, ignore_errors=True)
        started = False
    work.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda target: target.write_text(json.dumps(record, indent=1) + "\n"))
    return started


def build(
    plan: Plan,
    folder: Path,
    work: Path,
    device: str = "auto",
    progress: bool | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Render ``plan``'s pieces into ``work`` / ``plan.kind``, train there, and put the model's
    files into ``folder``. ``on_step`` is the trainer's (:func:`.trainer.train`): an exception
    from it stops the build with its checkpoint saved, and building again resumes."""
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
    work = work / plan.kind  # a build on the other kind of machine has its own pieces and training
    settings = plan.settings_on(device)
    resume = _resumes(work, {"plan": plan.to_dict(), "settings": settings.to_dict()})
    render_dataset(work / "train", plan.pieces, 0, plan.seconds, [instruments], sample_rate=rate, progress=progress)
    render_dataset(
        work / "validation", plan.validation_pieces, VALIDATION_SEED, plan.seconds, [instruments], sample_rate=rate, progress=progress
    )
    model = work / "model"
    if settings != plan.settings:
        print(
            f"this {plan.kind.upper()} has no bfloat16 arithmetic: the recipe trains in float32, "
            f"{settings.epochs} epochs where bfloat16 takes {plan.settings.epochs} in about the same time",
            file=sys.stderr,
        )
    train(
        [work / "train"],
        model,
        settings,
        validation=[work / "validation"],
        device=device,
        resume=resume,
        progress=progress,
        on_step=on_step,
    )
    for name in FILES:
        shutil.copy2(model / name, folder / name)
    document = json.loads((folder / CONFIG).read_text())
    document["recipe"] = plan.to_dict()
    write_atomically(folder / CONFIG, lambda path: path.write_text(json.dumps(document, indent=1) + "\n"))
