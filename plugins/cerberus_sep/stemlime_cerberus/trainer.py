"""The trainer: ``train(data, out, ...)`` fits a Cerberus network and keeps the best model.

The output folder holds, at every moment, complete files only (each written through a
temporary sibling and renamed):

- ``weights.safetensors`` + ``config.json``: the best model so far (highest mean over the
  instruments of the median validation SI-SDR), a model folder the separator loads
  (``cerberus,model_dir=OUT``);
- ``checkpoint.safetensors`` + ``checkpoint.json``: the state of the run (network, Adam's
  moments, the torch random state, the position in the data, the history), written every
  ``checkpoint_every`` steps, after each epoch and on Ctrl-C. ``resume=True`` continues from
  it and gives bit for bit the weights of an uninterrupted run (CPU, same settings and data):
  batches are a function of (seed, epoch, step) (:mod:`.batches`), dropout is seeded per
  step, the learning rate is a function of the step, and every tensor is saved exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import attrs
import numpy as np

from stemlime.plugin import StemlimeError, UsageError, number, one_of, positive_number, whole_number
from stemlime.plugin import LOCK_NAME, write_atomically
from stemlime.plugin import sha256_of
from stemlime.plugin import torch_threads

from .config import FILES, MASKS, PRECISIONS, TRUNKS, WEIGHTS, CerberusConfig, write_config
from .data import Track, read_tracks
from .instruments import DEFAULT, parse_instruments
from .losses import MASK_LOSSES, Objective, floats

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_JSON = "checkpoint.json"
TRAINER_FILES = (*FILES, CHECKPOINT, CHECKPOINT_JSON)
CHECKPOINT_FORMAT = "stemlime-cerberus-training/1"
HOLDOUT_SHARE = 0.1  # of the training tracks, when no validation data is given (and there are >= 10)
FINAL_LR_SHARE = 0.1  # the cosine schedule ends at this share of the learning rate


MAX_TORCH_SEED = 2**64 - 1  # torch.manual_seed takes seeds up to this


@attrs.frozen
class Settings:
    """Everything that decides the result of a training run (recorded in ``config.json``)."""

    # The defaults are the recipe's, chosen by measuring quality against CPU time (README, cerberus).
    # The paper's network: hidden=300, layers=4, embedding=20, loss_weights=(0.1, 0.1, 0.8).
    instruments: tuple[str, ...] = attrs.field(default=DEFAULT, converter=parse_instruments)
    epochs: int = 20
    batch_size: int = 16
    chunk_seconds: float = 2.0
    learning_rate: float = 3e-3
    # the encoded trunk of 192 units without dropout: at 1,200 steps 0.4 to 0.6 dB above the 2 x 128 BLSTM alone
    # for pitched instruments, at 1.06 times its CPU (docs, measured)
    hidden: int = 192
    layers: int = 2
    dropout: float = 0.0
    embedding: int = 0
    masks: str = "softmax"  # the mask head's activation (CerberusConfig.masks)
    trunk: str = "encoded"  # the BLSTM alone ("blstm"), or with an encoder and decoder (CerberusConfig.trunk)
    # the masks' loss (losses.Objective.mask): "sisdr" learned 0.9 to 2.4 dB more than "psa" at less CPU, but left
    # the stems short and the rest with what they lacked; "snr" keeps the stems at their level; "sisdr-sum" scores
    # each stem's SI-SDR and makes their sum hold the instruments: 0.1 to 0.5 dB above "snr", the rest silent (docs, measured)
    mask_loss: str = "sisdr-sum"
    loss_weights: tuple[float, float, float] = attrs.field(default=(0.0, 1.0, 1.0), converter=floats)
    # relative weights of the instruments in the mask loss, one per instrument in their order (empty: all equal);
    # the CPU recipe weighs guitar and piano above drums, which its network separates nearest the ceiling (docs, measured)
    instrument_weights: tuple[float, ...] = attrs.field(default=(), converter=floats)
    remix: float = 0.5
    # each source's level drawn anew in [-gain_db, +gain_db] dB for every example (augmentation); the recipes take 0:
    # on the rendered pieces, which draw each part's level already, 6 dB learned less in their steps (docs, measured)
    gain_db: float = 6.0
    clip: float = 5.0
    seed: int = 0
    sample_rate: int = 16000
    # data-parallel processes on the CPU (:mod:`.parallel`): results are bit-identical for one count
    workers: int = 1
    # the network's number format in a training step (config.PRECISIONS; the model's weights stay float32): float32
    # by default, fast on every CPU; the CPU recipe takes bfloat16 where the CPU computes it (recipe.Plan.settings_on)
    precision: str = "float32"

    def check(self) -> "Settings":
        """The settings, checked with the shared validators (each message names its flag)."""
        for name in ("epochs", "batch_size", "hidden", "layers", "workers"):
            whole_number(getattr(self, name), name, minimum=1, flag="--" + name.replace("_", "-"))
        for name in ("chunk_seconds", "learning_rate"):
            positive_number(getattr(self, name), name, flag="--" + name.replace("_", "-"))
        if not 0 <= number(self.dropout, "dropout", flag="--dropout") < 1:
            raise UsageError(f"dropout must be at least 0 and below 1 (--dropout), got {self.dropout!r}")
        if not 0 <= number(self.remix, "remix", flag="--remix") <= 1:
            raise UsageError(f"remix must be a share from 0 to 1 (--remix), got {self.remix!r}")
        if not 0 <= number(self.gain_db, "gain_db", flag="--gain-db") <= 60:
            raise UsageError(f"gain_db must be from 0 to 60 dB (--gain-db), got {self.gain_db!r}")
        for name, choices in (("mask_loss", MASK_LOSSES), ("masks", MASKS), ("trunk", TRUNKS), ("precision", PRECISIONS)):
            one_of(getattr(self, name), name, choices, flag="--" + name.replace("_", "-"))
        whole_number(self.embedding, "embedding", minimum=0, flag="--embedding", hint=" (0: no deep-clustering head)")
        if len(self.loss_weights) != 3 or min(self.loss_weights) < 0 or self.loss_weights[1] == 0:
            raise UsageError(
                f"loss_weights are (deep clustering, mask inference, transcription) >= 0 with mask inference > 0, got {self.loss_weights}"
            )
        weights = self.instrument_weights
        if weights and (len(weights) != len(self.instruments) or not all(0 <= w < float("inf") for w in weights) or sum(weights) <= 0):
            raise UsageError(
                f"instrument_weights (--instrument-weights) are one number >= 0 per instrument ({','.join(self.instruments)}), "
                f"not all 0, got {','.join(f'{w:g}' for w in weights)}"
            )
        whole_number(self.seed, "seed", 0, MAX_TORCH_SEED, flag="--seed")
        return self

    def model_config(self) -> CerberusConfig:
        return CerberusConfig(
            self.instruments,
            self.sample_rate,
            hidden=self.hidden,
            layers=self.layers,
            dropout=self.dropout,
            embedding=self.embedding if self.loss_weights[0] > 0 else 0,
            masks=self.masks,
            trunk=self.trunk,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.asdict(self).items()}

    @property
    def objective(self) -> Objective:
        """What each training step minimises."""
        return Objective(self.loss_weights, self.mask_loss, self.instrument_weights)

    def batches(self, tracks: Sequence[Track]) -> Any:
        """The training batches of ``tracks`` (:class:`.batches.Batches`) that these settings draw."""
        from .batches import Batches

        chunk = int(round(self.chunk_seconds * self.sample_rate))
        return Batches(tracks, self.model_config(), self.batch_size, chunk, self.seed, self.remix, self.gain_db)


@attrs.frozen
class Result:
    """What :func:`train` returns: the model folder, the best validation score and the history."""

    folder: Path
    best: dict[str, Any]
    history: list[dict[str, Any]]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def learning_rate(settings: Settings, step: int, total: int) -> float:
    """Cosine decay from the learning rate to FINAL_LR_SHARE of it over ``total`` steps."""
    progress = min(step / max(total, 1), 1.0)
    return settings.learning_rate * (FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress)))


def data_digest(tracks: Sequence[Track]) -> str:
    """SHA-256 of every track's name and samples: resuming on other data is refused."""
    digest = hashlib.sha256()
    for track in tracks:
        digest.update(track.name.encode())
        for name, audio in sorted(track.stems.items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(audio).tobytes())
        if track.rest is not None:
            digest.update(np.ascontiguousarray(track.rest).tobytes())
        for name, rows in sorted(track.notes.items()):
            digest.update(np.ascontiguousarray(rows).tobytes())
    return digest.hexdigest()


def data_summary(roots: Sequence[Any], tracks: Sequence[Track], instruments: Sequence[str]) -> dict[str, Any]:
    seconds = {name: round(sum(t.length for t in tracks if name in t.stems) / tracks[0].sample_rate, 1) for name in instruments}
    return {
        "folders": [str(r) for r in roots],
        "tracks": len(tracks),
        "seconds": round(sum(t.length for t in tracks) / tracks[0].sample_rate, 1),
        "seconds_per_instrument": seconds,
    }


def check_output(out: Path, inputs: Sequence[Path], resume: bool, force: bool) -> None:
    """Refuse an output folder that holds foreign files or an input, or (without ``resume`` or
    ``force``) a training already there."""
    target = out.expanduser().resolve()
    for given in inputs:
        path = Path(given).expanduser().resolve()
        if path == target or target in path.parents or path in target.parents:
            raise UsageError(
                f"the output folder {out} and the data folder {given} overlap; the trainer never writes into its data: choose another --out"
            )
    if target.exists() and not target.is_dir():
        raise UsageError(f"the output folder {out} is a file; choose a folder (--out)")
    present = sorted(p.name for p in target.iterdir() if p.name != LOCK_NAME) if target.is_dir() else []
    foreign = [name for name in present if name not in TRAINER_FILES and name != LOCK_NAME and not name.endswith(".tmp")]
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise UsageError(f"the output folder {out} holds files the trainer did not write ({shown}); choose a new or empty folder (--out)")
    if resume:
        if CHECKPOINT_JSON not in present:
            raise UsageError(f"nothing to resume in {out}: it holds no {CHECKPOINT_JSON}; leave out --resume to start a training there")
    elif present and not force:
        raise UsageError(
            f"the output folder {out} holds a training already; give --resume to continue it, or --force to start over (deleting it)"
        )


class _Run:
    """One training run's state (network, optimizer, position) and its checkpoint files."""

    def __init__(self, settings: Settings, out: Path, device: Any):
        import torch

        from .network import Cerberus

        self.settings, self.out, self.device = settings, out, device
        self.config = settings.model_config()
        torch.manual_seed(settings.seed)
        self.network = Cerberus(self.config).to(device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=settings.learning_rate)
        self.position = {"epoch": 0, "step": 0, "loss_sum": 0.0, "loss_count": 0}
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"score": None, "epoch": None}
        self.elapsed = {"wall_seconds": 0.0, "cpu_seconds": 0.0}

    # ------------------------------------------------------------------ checkpoints

    def _tensors(self) -> dict[str, np.ndarray]:
        import torch

        tensors = {f"model.{k}": v.detach().cpu().numpy() for k, v in self.network.state_dict().items()}
        for index, state in self.optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().numpy() if torch.is_tensor(value) else np.asarray(value)
        tensors["rng.torch"] = torch.get_rng_state().numpy()
        return tensors

    def save_checkpoint(self, digest: str) -> None:
        from safetensors.numpy import save_file

        self.out.mkdir(parents=True, exist_ok=True)
        write_atomically(self.out / CHECKPOINT, lambda path: save_file(self._tensors(), str(path)))
        import torch

        document = {
            "format": CHECKPOINT_FORMAT,
            "settings": self.settings.to_dict(),
            "data_sha256": digest,
            "threads": torch.get_num_threads(),
            "position": self.position,
            "history": self.history,
            "best": self.best,
            "elapsed": self.elapsed,
            "tensors_sha256": sha256_of(self.out / CHECKPOINT),
        }
        write_atomically(self.out / CHECKPOINT_JSON, lambda path: path.write_text(json.dumps(document, indent=1) + "\n"))

    def load_checkpoint(self, digest: str) -> None:
        import torch
        from safetensors.numpy import load_file

        try:
            document = json.loads((self.out / CHECKPOINT_JSON).read_text())
            if document.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"format {document.get('format')!r}, not {CHECKPOINT_FORMAT!r}")
            if sha256_of(self.out / CHECKPOINT) != document.get("tensors_sha256"):
                raise ValueError(f"{CHECKPOINT} is not the one {CHECKPOINT_JSON} was written with")
            tensors = load_file(str(self.out / CHECKPOINT))
        except (OSError, ValueError) as error:
            raise StemlimeError(f"cannot resume from {self.out}: its checkpoint is damaged ({error}); start over with --force") from None
        # checkpoints from before data-parallel training ran one worker; from before the options, softmax masks on the PSA
        # loss, the BLSTM trunk, in float32
        saved = {
            "workers": 1,
            "masks": "softmax",
            "mask_loss": "psa",
            "trunk": "blstm",
            "precision": "float32",
            "instrument_weights": [],
        } | document["settings"]
        now = self.settings.to_dict()
        changed = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
        if changed:
            listed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise UsageError(
                f"{self.out} holds a training with other settings ({listed}); resume with the same settings, or --force to start over"
            )
        if document.get("threads") != torch.get_num_threads():
            import warnings

            warnings.warn(
                f"the training in {self.out} ran with {document.get('threads')} CPU thread(s), this run has "
                f"{torch.get_num_threads()}: the result will not be bit-identical to an uninterrupted run "
                "(give the same --threads, threads=, as before)"
            )
        if document.get("data_sha256") != digest:
            raise UsageError(f"{self.out} holds a training on other data (the tracks differ); resume with the same --data, or --force")
        self.network.load_state_dict({k[len("model.") :]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("model.")})
        state = self.optimizer.state_dict()
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state["state"].setdefault(int(index), {})[name] = torch.from_numpy(value)
        self.optimizer.load_state_dict(state)
        torch.set_rng_state(torch.from_numpy(tensors["rng.torch"]))
        self.position, self.history, self.best = document["position"], document["history"], document["best"]
        self.elapsed = document.get("elapsed", self.elapsed)

    def finish(self, training: dict[str, Any], validation: Sequence[Track] | None) -> None:
        """Record the whole run (history, time) in the best model's ``config.json`` and, given
        ``validation`` tracks, choose the best model's decoding thresholds on them and score its
        transcription F1 with those (each epoch's validation measures SI-SDR only)."""
        import torch
        from safetensors.numpy import load_file

        from .config import read_config
        from .network import Cerberus
        from .scoring import choose_thresholds, evaluate

        config, document = read_config(self.out)
        metrics, transcription = document["metrics"], document.get("transcription")
        if validation is not None and not metrics.get("transcription_scored") and config.roll_size:
            network = Cerberus(config).to(self.device)
            network.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(str(self.out / WEIGHTS)).items()})
            thresholds = choose_thresholds(network, validation, self.device)
            evaluation = evaluate(network, validation, self.device, transcription=True, thresholds=thresholds)
            metrics = {"validation": evaluation.to_dict(), "epoch": metrics["epoch"], "transcription_scored": True}
            transcription = {"thresholds": thresholds, "chosen_on": f"the {len(validation)} validation tracks (best F1)"}
        write_config(self.out, config, document["weights_sha256"], training | {"best_epoch": metrics["epoch"]}, metrics, transcription)

    def save_model(self, training: dict[str, Any], metrics: dict[str, Any]) -> None:
        from safetensors.numpy import save_file

        weights = {k: v.detach().cpu().numpy() for k, v in self.network.state_dict().items()}
        write_atomically(self.out / WEIGHTS, lambda path: save_file(weights, str(path), metadata={"written_by": "stemlime-cerberus"}))
        write_config(self.out, self.config, sha256_of(self.out / WEIGHTS), training, metrics)

    # ------------------------------------------------------------------ one step

    def step(self, batch: Any, lr: float, seeds: Sequence[int], helpers: Any = None) -> tuple[float, dict[str, float]]:
        """One optimizer step on ``batch`` at learning rate ``lr``: its gradient computed here
        (dropout seeded with ``seeds[0]``) or shared with the :class:`.parallel.Helpers`."""
        import torch

        from .parallel import gradient

        sources = torch.from_numpy(batch.sources).to(self.device)  # (B, S, samples)
        roll = torch.from_numpy(batch.roll).to(self.device)
        if helpers is None:
            torch.manual_seed(seeds[0])
            loss, parts = gradient(self.network, self.config, self.settings.objective, sources, roll, self.settings.precision)
            loss, parts = float(loss), {k: float(v) for k, v in parts.items()}
        else:
            loss, parts = helpers.step(self.network, sources, roll, seeds)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.settings.clip)
        self.optimizer.step()
        return loss, parts


def _split(tracks: list[Track], seed: int) -> tuple[list[Track], list[Track], str]:
    if len(tracks) < 10:
        return tracks, tracks, "the training tracks (fewer than 10: none held out)"
    order = np.random.default_rng([seed, 7]).permutation(len(tracks))
    held = max(1, int(round(HOLDOUT_SHARE * len(tracks))))
    chosen = set(order[:held].tolist())
    return (
        [t for i, t in enumerate(tracks) if i not in chosen],
        [t for i, t in enumerate(tracks) if i in chosen],
        f"{held} of the training tracks, held out (seeded)",
    )


def _format_metrics(medians: dict[str, dict[str, float | None]]) -> str:
    def number(value, digits):
        return "n/a" if value is None else f"{value:.{digits}f}"

    return ", ".join(f"{name} {number(m['si_sdr'], 1)} dB / F1 {number(m['f1'], 2)}" for name, m in medians.items())


def train(
    data: Sequence[str | Path],
    out: str | Path,
    settings: Settings | None = None,
    *,
    validation: Sequence[str | Path] | None = None,
    device: str = "auto",
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    checkpoint_every: int = 200,
    threads: int | None = 1,
    score_transcription: bool = True,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> Result:
    """Train a Cerberus network on the tracks under ``data`` (stemlime-render or Slakh folders)
    into the folder ``out``; returns the :class:`Result`.

    ``settings`` (or its fields as keyword ``options``: ``instruments``, ``epochs``,
    ``batch_size``, ``chunk_seconds``, ``learning_rate``, ``hidden``, ``layers``, ``dropout``,
    ``embedding``, ``masks``, ``trunk``, ``mask_loss``, ``loss_weights``, ``instrument_weights``, ``remix``, ``gain_db``,
    ``clip``, ``seed``, ``workers``, ``precision``) decide the run.
    ``validation`` folders give the tracks scored after each epoch (default: 10% of the data
    held out, or the training tracks themselves when there are fewer than 10). ``threads``
    sets torch's CPU threads for the run (default 1; None: torch's own count,
    ``OMP_NUM_THREADS``): results are bit-identical for one thread count, not across counts,
    and on a machine that other processes share one thread is often the fastest. The best
    model's transcription F1 on the validation tracks is scored at the end
    (``score_transcription=False`` skips it: mir_eval's matching costs seconds per track). ``on_step``
    is called after every step with {"epoch", "step", "global_step", "loss", ...}; an exception
    from it (or Ctrl-C) saves a checkpoint first, so that ``resume=True`` continues exactly.
    """
    import torch

    from stemlime.plugin import folder_lock, torch_device

    settings = (attrs.evolve(settings, **options) if settings is not None else Settings(**options)).check()
    if threads is not None:  # before any track is read
        whole_number(threads, "threads", minimum=1, flag="--threads", hint="; 0 on the command line: torch's own count")
    data = _data_folders(data)
    out = Path(out).expanduser()
    check_output(out, [*map(Path, data), *map(Path, validation or [])], resume, force)
    if settings.workers > 1 and trains_on_gpu(device):
        raise UsageError(
            f"workers={settings.workers} (--workers) trains in several processes on the CPU, but device={device} "
            "trains on the GPU: give --workers 1 there, or --device cpu"
        )
    torch_dev = torch_device(device, "the Cerberus trainer")
    train_tracks, validation_tracks, held = _tracks(data, validation, settings, progress)
    batches = settings.batches(train_tracks)
    _check_workers(batches, settings.workers)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, "the training folder"):
        check_output(out, [], resume, force)  # again under the lock: what another run may have left meanwhile
        if force and not resume:
            for name in TRAINER_FILES:
                (out / name).unlink(missing_ok=True)
        if torch_dev.type == "cuda":  # CPU kernels are deterministic already; strict mode would import torch's compiler (seconds)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        with torch_threads(threads) if threads is not None else nullcontext(), torch.random.fork_rng(devices=[]):
            run = _Run(settings, out, torch_dev)
            loop = _Loop(
                run,
                batches,
                validation_tracks,
                data_digest(train_tracks + validation_tracks),
                {
                    "settings": settings.to_dict(),
                    "data": data_summary(data, train_tracks, settings.instruments),
                    "validation": {"tracks": len(validation_tracks), "what": held},
                },
                checkpoint_every,
                on_step,
                progress,
            )
            if resume:
                run.load_checkpoint(loop.digest)
            with _helpers(run, loop, threads) as loop.helpers, _prefetch(torch_dev) as loop.prefetch:
                loop.run(score_transcription)
    return Result(out, run.best, run.history)


def trains_on_gpu(device: str) -> bool:
    """Whether ``device`` (auto, cpu or cuda) trains on the GPU here."""
    import torch

    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def computes_bfloat16(device: str) -> bool:
    """Whether training on ``device`` (auto, cpu or cuda) here computes bfloat16 in hardware: on the
    CPU, oneDNN's bfloat16 kernels (AVX512-BF16 or AMX); a CPU without them emulates bfloat16,
    slower than float32."""
    import torch

    if trains_on_gpu(device):
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the probe
        return False


def _check_workers(batches: Any, workers: int) -> None:
    """Every worker needs at least one chunk of every batch."""
    if batches.rows < workers:
        raise UsageError(
            f"a batch of {batches.rows} chunks cannot be shared by {workers} workers (--workers): "
            f"give at most {batches.rows} workers, or a larger --batch-size"
        )


def _helpers(run: _Run, loop: "_Loop", threads: int | None) -> Any:
    """The helper processes of a data-parallel run (:mod:`.parallel`), or a no-op for one worker."""
    import torch

    from .parallel import Helpers
    from .transcription import frame_count

    if run.settings.workers == 1:
        return nullcontext()
    config = run.config
    shape = (loop.batches.rows, len(config.sources), loop.batches.chunk, frame_count(config, loop.batches.chunk), config.roll_size)
    settings = run.settings
    return Helpers(run.network, config, settings.objective, settings.precision, shape, settings.workers, threads or torch.get_num_threads())


def _prefetch(device: Any) -> Any:
    """One thread that draws the next batch (numpy, CPU) while a GPU takes the step; none on the
    CPU, where it would compete with the step for the cores. Batches are a pure function of
    (seed, epoch, step), so the result does not depend on it."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1, thread_name_prefix="cerberus-batches") if device.type == "cuda" else nullcontext()


def _data_folders(data: Sequence[str | Path] | str | Path) -> list[str | Path]:
    """The training data folders: at least one, none given twice (each track would count twice)."""
    folders = [data] if isinstance(data, (str, Path)) else list(data)
    if not folders:
        raise UsageError("give at least one data folder (--data DIR)")
    seen: dict[Path, str | Path] = {}
    for folder in folders:
        resolved = Path(folder).expanduser().resolve()
        if resolved in seen:
            raise UsageError(
                f"the data folder {folder} is given twice (--data {seen[resolved]} and --data {folder}): every "
                "track in it would be trained on twice; give each folder once"
            )
        inside = next((other for path, other in seen.items() if path in resolved.parents or resolved in path.parents), None)
        if inside is not None:
            raise UsageError(
                f"the data folders {inside} and {folder} overlap (one holds the other): its tracks would be "
                "trained on twice; give each folder once"
            )
        seen[resolved] = folder
    return folders


def _tracks(
    data: Sequence[str | Path], validation: Sequence[str | Path] | None, settings: Settings, progress: bool
) -> tuple[list[Track], list[Track], str]:
    """The training tracks, the validation tracks and what the latter are (in words); says on
    stderr when the training validates on its own tracks."""
    tracks = read_tracks(data, settings.instruments, settings.sample_rate, progress=progress)
    if validation:
        return tracks, read_tracks(validation, settings.instruments, settings.sample_rate), "the --validation folders"
    train_tracks, validation_tracks, held = _split(tracks, settings.seed)
    if validation_tracks is train_tracks:
        print(
            f"note: no --validation folder and only {len(tracks)} training track(s) (fewer than 10): the model is "
            "validated on its own training tracks, so its validation scores measure fit, not separation of unseen "
            "music; give --validation DIR (validation= in Python) for a fair score",
            file=sys.stderr,
        )
    return train_tracks, validation_tracks, held


class _Loop:
    """The epochs of one run: steps, a checkpoint every ``checkpoint_every`` steps and after each
    epoch, validation after each epoch (the best model kept), a checkpoint on an interruption."""

    def __init__(
        self,
        run: _Run,
        batches: Any,
        validation_tracks: list[Track],
        digest: str,
        summary: dict[str, Any],
        checkpoint_every: int,
        on_step: Callable[[dict[str, Any]], None] | None,
        progress: bool,
    ):
        settings = run.settings
        self.run_, self.validation_tracks, self.digest = run, validation_tracks, digest
        self.batches = batches
        self.steps_per_epoch = self.batches.steps_per_epoch
        self.total = self.steps_per_epoch * settings.epochs
        self.summary = summary | {"steps_per_epoch": self.steps_per_epoch}
        self.checkpoint_every, self.on_step, self.progress = checkpoint_every, on_step, progress
        self.consistent = True  # False inside a step: half-updated weights are never saved
        self.helpers: Any = None  # the data-parallel helper processes, when settings.workers > 1
        self.prefetch: Any = None  # a thread that draws batches ahead, when training on a GPU

    def run(self, score_transcription: bool) -> None:
        from tqdm.auto import tqdm

        run, settings = self.run_, self.run_.settings
        done = run.position["epoch"] * self.steps_per_epoch + run.position["step"]
        self.bar = tqdm(total=self.total, initial=done, desc="training cerberus", unit="step", disable=not self.progress, file=sys.stderr)
        self.started = (time.perf_counter(), self.cpu_seconds(), dict(run.elapsed))
        try:
            while run.position["epoch"] < settings.epochs:
                self.steps()
                self.close_epoch()
            self.account()
            run.finish(
                self.summary | {"epochs_done": settings.epochs, "history": run.history, "elapsed": run.elapsed},
                self.validation_tracks if score_transcription else None,
            )
        except BaseException:
            if self.consistent and (run.position["step"] or run.position["epoch"]):
                self.account()
                run.save_checkpoint(self.digest)
                self.bar.write(
                    f"training stopped at epoch {run.position['epoch'] + 1}, step {run.position['step']}; the "
                    f"checkpoint in {run.out} is saved: run again with --resume (resume=True) to continue",
                    file=sys.stderr,
                )
            raise
        finally:
            self.bar.close()

    def account(self) -> None:
        """Add this session's wall and CPU seconds to the run's."""
        wall, cpu, before = self.started
        self.run_.elapsed = {
            "wall_seconds": round(before["wall_seconds"] + time.perf_counter() - wall, 1),
            "cpu_seconds": round(before["cpu_seconds"] + self.cpu_seconds() - cpu, 1),
        }

    def cpu_seconds(self) -> float:
        """CPU seconds used by this process and its training helpers so far."""
        return _cpu_seconds() + (self.helpers.cpu_seconds if self.helpers is not None else 0.0)

    def steps(self) -> None:
        """The rest of the current epoch's steps."""
        import torch

        run, settings = self.run_, self.run_.settings
        epoch = run.position["epoch"]
        upcoming = None  # on a GPU, the next batch is drawn on the CPU while the GPU takes a step
        while run.position["step"] < self.steps_per_epoch:
            step = run.position["step"]
            batch = upcoming.result() if upcoming is not None else self.batches.batch(epoch, step)
            upcoming = None
            if self.prefetch is not None and step + 1 < self.steps_per_epoch:
                upcoming = self.prefetch.submit(self.batches.batch, epoch, step + 1)
            global_step = epoch * self.steps_per_epoch + step
            seeds = [
                int(np.random.default_rng([settings.seed, epoch, step, 2, *([k] if k else [])]).integers(2**62))
                for k in range(settings.workers)
            ]
            self.consistent = False
            loss, parts = run.step(batch, learning_rate(settings, global_step, self.total), seeds, self.helpers)
            if not math.isfinite(loss):
                raise StemlimeError(
                    f"the training loss became {loss} at epoch {epoch + 1}, step {step + 1}; try a lower learning rate (--learning-rate)"
                )
            run.position = {
                "epoch": epoch,
                "step": step + 1,
                "loss_sum": run.position["loss_sum"] + loss,
                "loss_count": run.position["loss_count"] + 1,
            }
            self.consistent = True
            self.bar.update(1)
            self.bar.set_postfix(epoch=f"{epoch + 1}/{settings.epochs}", loss=f"{loss:.4f}", refresh=False)
            if self.on_step is not None:
                self.on_step({"epoch": epoch, "step": step, "global_step": global_step, "loss": loss, **parts})
            if self.checkpoint_every and (global_step + 1) % self.checkpoint_every == 0 and run.position["step"] < self.steps_per_epoch:
                self.account()
                run.save_checkpoint(self.digest)

    def close_epoch(self) -> None:
        """Validate, keep the model if it is the best so far, record the epoch, checkpoint."""
        from .scoring import evaluate

        run, settings = self.run_, self.run_.settings
        epoch = run.position["epoch"]
        evaluation = evaluate(run.network, self.validation_tracks, run.device, transcription=False)
        medians, score = evaluation.medians(), evaluation.score()
        self.account()
        record = {
            "epoch": epoch + 1,
            "loss": run.position["loss_sum"] / max(run.position["loss_count"], 1),
            "validation_score": score,
            "validation": medians,
            **run.elapsed,
        }  # time so far: training curves
        run.history.append(record)
        improved = run.best["score"] is None or score > run.best["score"]
        if improved:
            run.best = {"score": score, "epoch": epoch + 1}
            run.save_model(
                self.summary | {"epochs_done": epoch + 1, "history": run.history, "elapsed": run.elapsed},
                {"validation": evaluation.to_dict(), "epoch": epoch + 1},
            )
        self.bar.write(
            f"epoch {epoch + 1}/{settings.epochs}: loss {record['loss']:.4f}; validation {_format_metrics(medians)}"
            + ("  (best so far: saved)" if improved else ""),
            file=sys.stderr,
        )
        run.position = {"epoch": epoch + 1, "step": 0, "loss_sum": 0.0, "loss_count": 0}
        run.save_checkpoint(self.digest)
