"""Data-parallel training steps on the CPU: helper processes compute the gradients of their
share of every batch while this process computes its own.

A step's batch (B examples) is cut into ``workers`` shares of consecutive examples, sizes as
equal as they can be. This process computes the gradient of the first share on the network
itself; helper process k computes share k's on its own copy of the network, whose weights are
copied in through shared memory before the step. The gradients are summed in share order, each
weighted by its share of the batch, so the step follows the gradient of the whole batch's mean
loss, and a run is bit for bit the same for one worker count (and thread count). Each process
draws its dropout from its own generator, seeded per step and share. Batch norm normalizes each
share by its own statistics (as PyTorch's DistributedDataParallel does without SyncBatchNorm);
the running statistics kept in the model are share 0's.

Why processes and not threads: the LSTM's dropout draws from PyTorch's process-wide generator,
which threads would share in an order that changes from run to run.
"""

from __future__ import annotations

import multiprocessing.connection
import resource
import signal
import traceback
from typing import Any, Sequence

import numpy as np

from stemlime.plugin import StemlimeError

from .config import CerberusConfig
from .losses import Objective


def shares(rows: int, workers: int) -> list[int]:
    """Sizes of the ``workers`` shares of a batch of ``rows`` examples (the first ones larger)."""
    return [len(part) for part in np.array_split(np.arange(rows), workers)]


def gradient(
    network: Any, config: CerberusConfig, objective: Objective, sources: Any, roll: Any, precision: str = "float32"
) -> tuple[Any, dict[str, Any]]:
    """Forward and backward for one batch: ``sources`` (B, S, samples) and target ``roll``
    (B, frames, R) tensors on the network's device; the network runs in ``precision``
    (:data:`.config.PRECISIONS`: "bfloat16" under ``torch.autocast``), the STFTs and losses in
    float32; the gradients land in the parameters' ``.grad``. Returns the weighted loss and its
    parts (tensors, detached)."""
    import torch

    from . import losses
    from .network import masked_waveforms, stft

    alpha, beta, gamma = objective.weights
    b, s, n = sources.shape
    waveform = objective.mask in losses.WAVEFORM_LOSSES
    if waveform and alpha == 0:  # only the mixture's spectrum is needed: one STFT per example, not one per source
        spectra = None
        mixture = stft(sources.sum(dim=1), config)  # (B, T, F)
    else:
        spectra = stft(sources.reshape(b * s, n), config)
        spectra = spectra.reshape(b, s, *spectra.shape[1:])  # (B, S, T, F)
        mixture = spectra.sum(dim=1)  # the STFT is linear: the mixture's spectrum
    weights = None
    if objective.instrument_weights:  # the instruments' (and for the PSA loss the rest's, 1) relative weights
        weights = torch.tensor(objective.instrument_weights + ((1.0,) if not waveform else ()), device=mixture.device)
    wanted = ("masks",) + (("embedding",) if alpha > 0 else ()) + (("roll",) if gamma > 0 else ())
    with torch.autocast(mixture.device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
        heads = network(mixture.abs(), heads=wanted)
    if waveform:  # the instruments' waveforms, not the rest's
        estimates = masked_waveforms(heads.masks[..., :-1], mixture, config, n)  # (B, S - 1, samples)
        part, waveform_loss = losses.WAVEFORM_LOSSES[objective.mask]
        parts = {part: waveform_loss(estimates, sources[:, :-1], weights)}
    else:
        part = "mask_inference"
        parts = {part: losses.mask_inference(heads.masks, mixture, spectra, weights)}
    if heads.embedding is not None:
        parts["deep_clustering"] = losses.deep_clustering(heads.embedding, mixture, spectra)
    if heads.roll_logits is not None:
        parts["transcription"] = losses.transcription(heads.roll_logits, roll)
    weight = {"deep_clustering": alpha, part: beta, "transcription": gamma}
    loss = sum(weight[k] * v for k, v in parts.items())
    network.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach(), {k: v.detach() for k, v in parts.items()}


def _places(network: Any) -> list[tuple[Any, slice]]:
    """Each parameter with its place in the flat weight and gradient vectors
    (``torch.nn.utils.parameters_to_vector``'s order)."""
    places, offset = [], 0
    for p in network.parameters():
        places.append((p, slice(offset, offset + p.numel())))
        offset += p.numel()
    return places


class Helpers:
    """``workers - 1`` helper processes for :func:`train` (a context manager: they end with it).

    ``step(network, sources, roll, seeds)`` leaves in ``network``'s ``.grad`` the gradient of
    the whole batch (:func:`gradient` with ``config``, ``objective`` and ``precision``) and
    returns its loss and parts (floats).
    """

    def __init__(
        self,
        network: Any,
        config: CerberusConfig,
        objective: Objective,
        precision: str,
        batch: tuple[int, int, int, int, int],
        workers: int,
        threads: int,
    ):
        import torch
        import torch.multiprocessing as mp
        from torch.nn.utils import parameters_to_vector

        rows, sources, samples, frames, roll_size = batch
        biggest = shares(rows, workers)[1] if workers > 1 else 0
        self.workers = workers
        self.task = (config, objective, precision)  # what every share's gradient is computed with
        self.weights = parameters_to_vector(network.parameters()).detach().clone().share_memory_()
        context = mp.get_context("spawn")
        self.channels: list[tuple[Any, Any, Any, Any, Any]] = []
        try:
            for _ in range(1, workers):
                buffers = (
                    torch.zeros((biggest, sources, samples)).share_memory_(),
                    torch.zeros((biggest, frames, roll_size)).share_memory_(),
                    torch.zeros_like(self.weights).share_memory_(),
                )
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_serve,
                    args=(theirs, self.task, self.weights, *buffers, threads),
                    daemon=True,
                    name="stemlime-cerberus-helper",
                )
                process.start()
                theirs.close()
                self.channels.append((process, ours, *buffers))
            self.cpu = [0.0] * len(self.channels)  # each helper's CPU seconds, as it last said
            for k, (process, connection, *_) in enumerate(self.channels):
                (self.cpu[k],) = self._receive(process, connection)  # "ready": torch imported, network built
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Helpers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for process, connection, *_ in self.channels:
            try:
                connection.send(None)
            except (OSError, ValueError):
                pass
            connection.close()
        for process, *_ in self.channels:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        self.channels = []

    @property
    def cpu_seconds(self) -> float:
        """The CPU seconds the helper processes have used so far (as of their last message)."""
        return sum(self.cpu)

    def _receive(self, process: Any, connection: Any) -> Any:
        ready = multiprocessing.connection.wait([connection, process.sentinel])
        if connection in ready:
            try:
                message = connection.recv()
            except (EOFError, OSError):  # closed, or reset by a helper that died
                message = None
            if message is not None and message[0] == "error":
                raise StemlimeError(f"a training helper process failed:\n{message[1]}")
            if message is not None:
                return message[1:]
        raise self._ended(process)

    @staticmethod
    def _ended(process: Any) -> StemlimeError:
        process.join(timeout=5)
        return StemlimeError(
            f"a training helper process ended unexpectedly (exit code {process.exitcode}; out of memory, or killed?); "
            "the last checkpoint is kept: run again with --resume (resume=True)"
        )

    def step(self, network: Any, sources: Any, roll: Any, seeds: Sequence[int]) -> tuple[float, dict[str, float]]:
        import torch
        from torch.nn.utils import parameters_to_vector

        sizes = shares(len(sources), self.workers)
        if min(sizes) == 0:
            raise StemlimeError(f"a batch of {len(sources)} examples cannot be shared by {self.workers} workers: give fewer workers")
        starts = np.cumsum([0, *sizes])
        with torch.no_grad():
            self.weights.copy_(parameters_to_vector(network.parameters()))
        for k, (process, connection, shared_sources, shared_roll, _) in enumerate(self.channels, start=1):
            rows = slice(int(starts[k]), int(starts[k + 1]))
            shared_sources[: sizes[k]].copy_(sources[rows])
            shared_roll[: sizes[k]].copy_(roll[rows])
            try:
                connection.send((sizes[k], seeds[k]))
            except OSError:
                raise self._ended(process) from None
        torch.manual_seed(seeds[0])
        config, objective, precision = self.task
        loss, parts = gradient(network, config, objective, sources[: sizes[0]], roll[: sizes[0]], precision)
        total = len(sources)
        share = sizes[0] / total
        loss, parts = float(loss) * share, {k: float(v) * share for k, v in parts.items()}
        with torch.no_grad():
            parameters = [p for p in network.parameters() if p.grad is not None]
            for p in parameters:
                p.grad.mul_(share)
            for k, (process, connection, *_, shared_gradient) in enumerate(self.channels, start=1):
                their_loss, their_parts, self.cpu[k - 1] = self._receive(process, connection)
                share = sizes[k] / total
                loss += their_loss * share
                parts = {name: value + their_parts[name] * share for name, value in parts.items()}
                for p, place in _places(network):
                    if p.grad is not None:
                        p.grad.add_(shared_gradient[place].view_as(p), alpha=share)
        return loss, parts


def _serve(
    connection: Any,
    task: tuple[CerberusConfig, Objective, str],
    weights: Any,
    sources: Any,
    roll: Any,
    gradients: Any,
    threads: int,
) -> None:
    """A helper process: for each (rows, seed) received, the gradient of the first ``rows``
    examples in ``sources`` / ``roll`` at the ``weights`` (:func:`gradient` with the ``task``'s
    config, objective and precision), into ``gradients``; None ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's to handle: it checkpoints, then ends us
    try:
        import torch

        from .network import Cerberus

        torch.set_num_threads(threads)
        config, objective, precision = task
        network = Cerberus(config)
        network.train()
        connection.send(("ready", _cpu_seconds()))
        while True:
            try:
                message = connection.recv()
            except EOFError:
                return
            if message is None:
                return
            rows, seed = message
            with torch.no_grad():
                for p, place in _places(network):
                    p.copy_(weights[place].view_as(p))
            torch.manual_seed(seed)
            loss, parts = gradient(network, config, objective, sources[:rows], roll[:rows], precision)
            with torch.no_grad():
                for p, place in _places(network):
                    if p.grad is not None:
                        gradients[place].copy_(p.grad.reshape(-1))
            connection.send(("done", float(loss), {k: float(v) for k, v in parts.items()}, _cpu_seconds()))
    except BaseException:
        try:
            connection.send(("error", traceback.format_exc()))
        except (OSError, ValueError):
            pass


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
