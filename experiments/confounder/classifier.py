"""The guitar-vs-piano classifier of Section 4: a small CNN on log-magnitude spectrograms of 2-s windows.

Front end as in the paper: 2 s at 16 kHz (32000 samples), STFT with n_fft 1024 (Hann window)
and hop 512 without padding: 513 bins x 61 frames, log(|X| + 1e-4). The network (shapes for
one window)::

    (1, 513, 61) -> BatchNorm (the input's level)
    conv 3x3 stride (2, 1), 8 -> BN, ReLU, max-pool (4, 2)  -> (8, 64, 30)
    conv 3x3, 16 -> BN, ReLU, max-pool (4, 2)               -> (16, 16, 15)
    conv 3x3, 32 -> BN, ReLU, max-pool (2, 2)               -> (32, 8, 7)
    mean over frequency and time                            -> (32,)
    linear 32 -> 1, sigmoid                                 -> p(piano)

About 4.5 M multiply-adds per window: a training step of 32 windows takes a fraction of a
second of one CPU core.

A piece's prediction is the mean p(piano) over its five consecutive 2-s windows.
``GuitarPianoTagger`` wraps the trained network as a stemlime tagger (labels ``guitar`` and
``piano``, p(guitar) = 1 - p(piano)). Training is deterministic for a seed on the CPU: seeded
initialisation, a seeded order of random 2-s crops, one thread (see :func:`reproducible` for
the GPU). Weights are saved
with safetensors (``model.safetensors`` + ``config.json``), never pickled.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from stemlime.plugin import StemlimeError, UsageError
from stemlime.plugin import torch_threads
from stemlime.plugin import write_atomically

SAMPLE_RATE = 16000  # Hz
WINDOW_SECONDS = 2.0
WINDOW = int(SAMPLE_RATE * WINDOW_SECONDS)  # 32000 samples
N_FFT = 1024
HOP = 512
FRAMES = 1 + (WINDOW - N_FFT) // HOP  # 61, as in the paper
BINS = N_FFT // 2 + 1  # 513
LOG_FLOOR = 1e-4  # magnitudes below this are silence to the network
LABELS = ("guitar", "piano")
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ARCHITECTURE = "confounder-cnn-v1"


@contextlib.contextmanager
def reproducible(device_type: str) -> Iterator[None]:
    """Deterministic kernels for training on ``device_type`` inside the block (the caller's settings after it).

    On the CPU every kernel this network uses is deterministic for a fixed thread count, so
    nothing is switched (PyTorch's strict ``use_deterministic_algorithms`` would only import its
    compiler, about 6 s here): training is bit for bit reproducible, as the tests check. On CUDA,
    cuDNN is made deterministic (no autotuning), cuBLAS gets its fixed workspace, and strict mode
    is on with warnings only, because max-pooling's backward pass has no deterministic CUDA
    kernel: there a rerun matches only approximately.
    """
    if device_type != "cuda":
        yield
        return
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[:2]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])


def windows(audio: np.ndarray) -> np.ndarray:
    """Consecutive 2-s windows of mono audio at 16 kHz: (n, 32000) float32; a shorter tail is dropped."""
    audio = np.asarray(audio, dtype=np.float32)
    n = len(audio) // WINDOW
    if n == 0:
        raise UsageError(
            f"the classifier needs at least {WINDOW_SECONDS} s ({WINDOW} samples at {SAMPLE_RATE} Hz), got {len(audio)} samples"
        )
    return audio[: n * WINDOW].reshape(n, WINDOW)


def build_network(channels: Sequence[int] = (8, 16, 32)) -> Any:
    """The untrained CNN (a ``torch.nn.Module``: waveforms (B, 32000) in, logits of p(piano) (B,) out)."""
    import torch
    from torch import nn

    class GuitarPianoCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
            self.input_norm = nn.BatchNorm2d(1)
            c1, c2, c3 = channels
            self.features = nn.Sequential(
                nn.Conv2d(1, c1, 3, stride=(2, 1), padding=1),
                nn.BatchNorm2d(c1),
                nn.ReLU(),
                nn.MaxPool2d((4, 2)),
                nn.Conv2d(c1, c2, 3, padding=1),
                nn.BatchNorm2d(c2),
                nn.ReLU(),
                nn.MaxPool2d((4, 2)),
                nn.Conv2d(c2, c3, 3, padding=1),
                nn.BatchNorm2d(c3),
                nn.ReLU(),
                nn.MaxPool2d((2, 2)),
            )
            self.output = nn.Linear(c3, 1)

        def spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
            """(B, 32000) waveforms -> (B, 1, 513, 61) log magnitudes."""
            spectrum = torch.stft(audio, N_FFT, HOP, window=self.window, center=False, return_complex=True)
            return torch.log(spectrum.abs() + LOG_FLOOR).unsqueeze(1)

        def forward(self, audio: torch.Tensor) -> torch.Tensor:
            features = self.features(self.input_norm(self.spectrogram(audio)))  # (B, 32, 8, 7)
            return self.output(features.mean(dim=(2, 3))).squeeze(1)  # (B,)

    return GuitarPianoCNN()


class GuitarPianoTagger:
    """The trained classifier as a stemlime tagger: audio at 16 kHz in, [p(guitar), p(piano)] out.

    ``predict`` takes a batch of inputs of at least 2 s; an input longer than 2 s is cut into
    consecutive 2-s windows (a shorter tail is dropped) and p(piano) is their mean, as for a
    piece. ``piece_probability`` also gives each window's p(piano).
    """

    labels = list(LABELS)
    sample_rate = SAMPLE_RATE
    input_seconds = WINDOW_SECONDS
    outputs = "probabilities"
    name = "confounder-cnn"

    def __init__(self, network: Any, config: dict[str, Any], device: str = "auto", batch_size: int = 64, threads: int = 1):
        from stemlime.plugin import torch_device

        self.device = torch_device(device, owner="the confounder classifier")
        self.network = network.to(self.device).eval()
        self.config = dict(config)
        self.batch_size = int(batch_size)
        self.threads = threads  # CPU threads of PyTorch's operators (see stemlime.workers.torch_threads)

    def p_piano(self, batch: np.ndarray) -> np.ndarray:
        """p(piano) for each of a (B, 32000) batch of 2-s windows: (B,) float64."""
        import torch

        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 2 or batch.shape[1] != WINDOW:
            raise StemlimeError(
                f"the confounder classifier's network takes (batch, {WINDOW}) windows of {WINDOW_SECONDS} s "
                f"at {SAMPLE_RATE} Hz, got an array of shape {batch.shape}"
            )
        out = []
        with torch.inference_mode(), torch_threads(self.threads):
            for first in range(0, len(batch), self.batch_size):
                chunk = torch.from_numpy(batch[first : first + self.batch_size]).to(self.device)
                out.append(torch.sigmoid(self.network(chunk)).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, T) audio with T >= 32000 samples -> (B, 2) [p(guitar), p(piano)], p(piano) the mean over each input's 2-s windows."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 2 or batch.shape[1] < WINDOW:
            raise StemlimeError(
                f"the confounder classifier takes (batch, samples) inputs of at least {WINDOW_SECONDS} s "
                f"({WINDOW} samples at {SAMPLE_RATE} Hz), got an array of shape {batch.shape}"
            )
        n = batch.shape[1] // WINDOW
        piano = self.p_piano(batch[:, : n * WINDOW].reshape(-1, WINDOW)).reshape(len(batch), n).mean(axis=1)
        return np.stack([1.0 - piano, piano], axis=1)

    def piece_probability(self, audio: np.ndarray) -> tuple[float, np.ndarray]:
        """(mean p(piano) over the piece's 2-s windows, p(piano) of each window)."""
        per_window = self.p_piano(windows(audio))
        return float(per_window.mean()), per_window

    def save(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` (every parameter and batch-norm statistic) and ``config.json`` into ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in self.network.state_dict().items()}
        write_atomically(folder / WEIGHTS_FILE, lambda path: save_file(tensors, str(path)))
        write_atomically(folder / CONFIG_FILE, lambda path: path.write_text(json.dumps(self.config, indent=1) + "\n"))
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto", threads: int = 1) -> "GuitarPianoTagger":
        """The classifier saved in ``folder`` by :meth:`save`; its tensors' names and shapes are checked."""
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            config = json.loads((folder / CONFIG_FILE).read_text())
            tensors = load_file(str(folder / WEIGHTS_FILE))
        except (OSError, ValueError) as error:
            raise StemlimeError(f"cannot load the confounder classifier from {folder}: {error}") from None
        if config.get("architecture") != ARCHITECTURE:
            raise StemlimeError(f"{folder} holds a {config.get('architecture')!r} model, not {ARCHITECTURE}")
        network = build_network(config["channels"])
        expected = {name: tuple(t.shape) for name, t in network.state_dict().items()}
        found = {name: tuple(t.shape) for name, t in tensors.items()}
        if expected != found:
            raise StemlimeError(
                f"{folder / WEIGHTS_FILE} does not fit the {ARCHITECTURE} network "
                f"(differs in {sorted(set(expected.items()) ^ set(found.items()))[:3]})"
            )
        network.load_state_dict(tensors)
        return cls(network, config, device, threads=threads)


def train(
    pieces: Sequence[np.ndarray],
    targets: Sequence[int],
    *,
    seed: int = 0,
    steps: int = 600,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    channels: Sequence[int] = (8, 16, 32),
    device: str = "auto",
    threads: int = 1,
    validation: tuple[Sequence[np.ndarray], Sequence[int]] | None = None,
    evaluate_every: int = 100,
    progress: bool = True,
) -> tuple[GuitarPianoTagger, list[dict[str, float]]]:
    """Train the CNN on random 2-s crops of ``pieces`` (mono float32 at 16 kHz, at least 2 s each)
    with ``targets`` (1 = piano, 0 = guitar): (the tagger, the history).

    Each of ``steps`` Adam steps takes ``batch_size`` crops drawn with the seed (which piece,
    where in it). The history holds, every ``evaluate_every`` steps and at the end, the mean
    training loss since the last entry and, with ``validation`` pieces, their window accuracy
    and loss. Deterministic for a seed on the CPU with the same ``threads`` (1 by default, the same
    weights on machines with any number of cores). One thread is also the fastest on a busy
    machine: the network is small, its operators end at an OpenMP barrier after a few
    milliseconds, and 8 training steps took 3.5x as long on 2 threads as on 1 here, at a load of
    7 on 2 cores.
    """
    import torch
    from tqdm.auto import tqdm

    from stemlime.plugin import torch_device

    if len(pieces) != len(targets) or not pieces:
        raise UsageError(f"training needs pieces and one target per piece, got {len(pieces)} pieces and {len(targets)} targets")
    if steps < 1 or batch_size < 1:
        raise UsageError(f"steps and batch_size must be >= 1, got steps={steps}, batch_size={batch_size}")
    short = [i for i, piece in enumerate(pieces) if len(piece) < WINDOW]
    if short:
        raise UsageError(f"training pieces must be at least {WINDOW_SECONDS} s long; piece {short[0]} is shorter")
    target_device = torch_device(device, owner="the confounder classifier")
    with reproducible(target_device.type), torch_threads(threads):
        torch.manual_seed(seed)
        network = build_network(channels).to(target_device)
        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
        loss_function = torch.nn.BCEWithLogitsLoss()
        rng = np.random.default_rng([seed, 2])  # the data order: which crops, independent of torch's stream
        lengths = np.array([len(piece) for piece in pieces])
        labels = np.asarray(targets, dtype=np.float32)
        history: list[dict[str, float]] = []
        running, counted = 0.0, 0
        network.train()
        for step in tqdm(range(1, steps + 1), desc="training", unit="step", disable=not progress, leave=False):
            chosen = rng.integers(len(pieces), size=batch_size)
            offsets = (rng.random(batch_size) * (lengths[chosen] - WINDOW + 1)).astype(np.int64)
            batch = np.stack([pieces[p][o : o + WINDOW] for p, o in zip(chosen, offsets)])
            audio = torch.from_numpy(batch).to(target_device)
            loss = loss_function(network(audio), torch.from_numpy(labels[chosen]).to(target_device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running, counted = running + loss.item(), counted + 1
            if step % evaluate_every == 0 or step == steps:
                entry = {"step": step, "train_loss": running / counted}
                running, counted = 0.0, 0
                if validation is not None:
                    network.eval()
                    entry |= window_scores(GuitarPianoTagger(network, {}, str(target_device.type), threads=threads), *validation)
                    network.train()
                history.append(entry)
    config = {
        "architecture": ARCHITECTURE,
        "channels": list(channels),
        "labels": list(LABELS),
        "sample_rate": SAMPLE_RATE,
        "window_seconds": WINDOW_SECONDS,
        "n_fft": N_FFT,
        "hop": HOP,
        "frames": FRAMES,
        "seed": int(seed),
        "steps": int(steps),
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "threads": threads,
    }
    return GuitarPianoTagger(network.eval(), config, device=str(target_device.type), threads=threads), history


def window_scores(tagger: GuitarPianoTagger, pieces: Sequence[np.ndarray], targets: Sequence[int]) -> dict[str, float]:
    """Accuracy and mean binary cross-entropy over every 2-s window of ``pieces``."""
    p, y = [], []
    for piece, target in zip(pieces, targets):
        per_window = tagger.p_piano(windows(piece))
        p.append(per_window)
        y.append(np.full(len(per_window), float(target)))
    p, y = np.concatenate(p), np.concatenate(y)
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    loss = -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    return {"validation_accuracy": float(np.mean((p >= 0.5) == (y == 1))), "validation_loss": float(loss)}
