"""The musicnn tagger object that stemlime's pipeline talks to.

Audio in (mono float32 at 16 kHz, any length >= one 3-s patch), tag probabilities out. Each
input is cut into 187-frame log-mel patches, every patch of the whole batch goes through the
network in ``batch_size`` chunks on ``device``, and each input's probabilities are the mean
over its patches (musicnn's clip-level output).

Two copies of the network: ``network``, the layers as trained (the source of truth, which
``features``, ``randomized`` and the fidelity tests use), and ``fast_network``, the same
function with its batch norms folded away (:mod:`stemlime_musicnn.folded`), built from it on
first use; ``predict`` and ``taggram`` run the fast one (``fold=False``: the trained layers).
On the CPU it runs on ``threads`` one-core worker threads (:mod:`stemlime.workers`, split by
:mod:`stemlime_musicnn.workers`).
"""

from __future__ import annotations

import copy
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemlime.plugin import AudioError, ModelFilesError, UsageError
from stemlime.plugin import composes_on_device, torch_device
from stemlime.plugin import load_tensors, model_path
from stemlime.plugin import one_blas_thread

from .folded import fold
from .device_frontend import patches_batch
from .frontend import HOP, PATCH_FRAMES, SAMPLE_RATE, cut_patches, log_mel, seconds_to_frames
from .modelfiles import variable_names, verifier
from .networks import VARIANTS, build_network
from .randomize import layer_names, randomize_top_layers
from .options import MusicnnOptions
from .workers import cpu_workers, parallel_forward, per_thread_widths


class MusicnnTagger:
    """musicnn/VGG tagger (variants: MSD_musicnn, MTT_musicnn, MSD_vgg, MTT_vgg, MSD_musicnn_big).

    ``overlap`` is the overlap of consecutive patches in seconds (musicnn's ``input_overlap``);
    ``precision="bf16"`` runs the network under bfloat16 autocast; ``fold=False`` runs the
    trained layers instead of the folded copy (same outputs within 1e-5, slower); ``threads``
    is the number of CPU worker threads of the folded copy (0: PyTorch's intra-op thread count);
    ``frontend`` is where ``predict`` computes the log-mel (see :data:`~.variants.FRONTENDS`);
    ``compose`` is where an explanation's perturbations are mixed (:meth:`stage`,
    :meth:`predict_masks`; ``stemlime.plugin.compose_option``). Every option is declared in
    :class:`~.options.MusicnnOptions`.
    """

    MASKS_PER_CALL_ON_DEVICE = 4096
    """Masks per :meth:`predict_masks` call that the engine sends when composing on a GPU: one
    copy of the masks and one of the outputs per few thousand perturbations."""

    sample_rate = SAMPLE_RATE
    input_seconds = 3.0

    def __init__(self, variant: str = "MSD_musicnn", **options: Any):
        if variant not in VARIANTS:
            raise UsageError(f"unknown musicnn variant {variant!r}; variants: {', '.join(VARIANTS)}")
        given = MusicnnOptions(**options)  # device, batch_size, precision, overlap, ... (see .options)
        self.options = given
        self.variant = variant
        self.name = f"musicnn:{variant}"
        self.labels = list(VARIANTS[variant].labels)
        self.device = torch_device(given.device, "musicnn")
        self.batch_size = int(given.batch_size)
        self.precision = given.precision
        self.overlap = float(given.overlap)
        self.model_dir = given.model_dir
        self.fold = given.fold
        self.threads = int(given.threads) or torch.get_num_threads()
        on_cpu = self.device.type == "cpu"
        self.frontend = ("numpy" if on_cpu else "torch") if given.frontend == "auto" else given.frontend
        self.compose = "device" if composes_on_device(given.compose, self.device) else "host"
        self._network = None
        self._fast_network = None

    # -------------------------------------------------------------- the network

    @property
    def hop_frames(self) -> int:
        """Frames between patch starts (musicnn: 187 minus the overlap in frames)."""
        overlap_frames = seconds_to_frames(self.overlap) if self.overlap else 0
        return max(1, PATCH_FRAMES - max(0, overlap_frames))

    @property
    def taggram_hop_seconds(self) -> float:
        return self.hop_frames * HOP / SAMPLE_RATE

    def _folder(self) -> Path:
        if self.model_dir is None:
            return model_path(f"musicnn/{self.variant}")
        verifier(self.variant)(self.model_dir)
        return self.model_dir

    @property
    def network(self) -> torch.nn.Module:
        """The PyTorch network, loaded from the checkpoint on first use."""
        if self._network is None:
            folder = self._folder()
            try:
                tensors = load_tensors(f"musicnn/{self.variant}", self.model_dir, names=variable_names(self.variant))
                network = build_network(self.variant, tensors)
            except ValueError as error:  # a tensor of the wrong shape
                raise ModelFilesError(
                    f"musicnn {self.variant}: cannot load the checkpoint in {folder}: {error}.\n"
                    f"Fetch it again with:\n  stemlime models fetch musicnn/{self.variant} --force"
                ) from None
            self._network = network.to(self.device).eval()
        return self._network

    @property
    def fast_network(self) -> torch.nn.Module:
        """The inference-only copy of :attr:`network` with folded batch norms, built on first use
        (a snapshot: it does not follow later in-place changes of ``network``'s weights)."""
        if self._fast_network is None:
            self._fast_network = fold(self.network)
        return self._fast_network

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _inference(self):
        """Inference mode and the precision's autocast (both per thread: entered by each worker)."""
        stack = ExitStack()
        stack.enter_context(torch.inference_mode())
        stack.enter_context(self._autocast())
        return stack

    def _probabilities(self, chunk: torch.Tensor) -> torch.Tensor:
        """(P, 187, 96) patches on the device -> (P, labels) probabilities (fast path if ``fold``)."""
        if not self.fold:
            with self._inference():
                return self.network(chunk)
        if self.device.type == "cpu" and per_thread_widths():
            return parallel_forward(self.fast_network, chunk, cpu_workers(self.threads), self._inference)
        with self._inference():
            return self.fast_network(chunk)

    def patch_probabilities(self, patches: np.ndarray) -> np.ndarray:
        """(P, 187, 96) log-mel patches (from :meth:`patches`) -> (P, labels) probabilities,
        in ``batch_size`` chunks."""
        return self._chunked_probabilities(torch.from_numpy(np.ascontiguousarray(patches))).cpu().numpy()

    def _chunked_probabilities(self, patches: torch.Tensor) -> torch.Tensor:
        """(P, 187, 96) patches on any device -> (P, labels) float32 probabilities on the
        network's device, each ``batch_size`` chunk moved there on its turn."""
        return torch.cat(
            [
                self._probabilities(patches[first : first + self.batch_size].to(self.device)).float()
                for first in range(0, len(patches), self.batch_size)
            ]
        )

    def _extract(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """musicnn's features of (P, 187, 96) patches, from the trained layers, in ``batch_size`` chunks."""
        outputs = []
        for first in range(0, len(patches), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(patches[first : first + self.batch_size])).to(self.device)
            with self._inference():
                outputs.append({k: v.float().cpu().numpy() for k, v in self.network.extract(chunk).items()})
        return {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}

    # -------------------------------------------------------------- audio -> patches

    def patches(self, audio: np.ndarray) -> np.ndarray:
        """(P, 187, 96) log-mel patches of mono 16-kHz audio."""
        audio = np.asarray(audio, dtype=np.float32)
        self._check_audio(audio)
        return cut_patches(log_mel(audio), PATCH_FRAMES, self.hop_frames)

    def _check_audio(self, audio: np.ndarray) -> None:
        """AudioError unless ``audio`` is mono, finite and at least one patch long."""
        if audio.ndim != 1:
            raise AudioError(f"musicnn takes mono audio, got an array of shape {audio.shape}")
        if not np.all(np.isfinite(audio)):
            raise AudioError("musicnn: the audio holds NaN or infinite samples")
        minimum = (PATCH_FRAMES - 1) * HOP
        if len(audio) < minimum:
            raise AudioError(
                f"musicnn needs at least {minimum} samples ({minimum / SAMPLE_RATE:.3f} s at {SAMPLE_RATE} Hz) for one patch, "
                f"got {len(audio)}: give a longer excerpt or song; explain, check and explain-dataset zero-pad a short excerpt "
                "with --pad (pad=True in Python)"
            )

    # -------------------------------------------------------------- the tagger protocol

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, samples) mono 16-kHz audio -> (B, labels) probabilities, averaged over each input's patches."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None]
        if self.frontend == "torch":
            return self._predict_on_device(batch)
        with one_blas_thread():  # the mel filter bank products: no spinning BLAS threads in the workers' way
            per_input = [self.patches(audio) for audio in batch]
        counts = [len(p) for p in per_input]
        probabilities = self.patch_probabilities(np.concatenate(per_input))
        bounds = np.cumsum([0] + counts)
        return np.stack([probabilities[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])

    def _predict_on_device(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`predict` with the log-mel computed on the network's device
        (:mod:`~stemlime_musicnn.device_frontend`): audio goes to the device once, patches stay there."""
        for audio in batch:
            self._check_audio(audio)
        with torch.inference_mode():
            patches = patches_batch(self._to_device(batch), self.hop_frames)  # (B * P, 187, 96)
            probabilities = self._chunked_probabilities(patches)
            return probabilities.view(len(batch), -1, probabilities.shape[-1]).mean(dim=1).cpu().numpy()

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """A float32 array on the network's device: on a GPU through pinned (page-locked) memory,
        copied asynchronously (a pageable copy costs about 0.1 s per 4,096 snippets)."""
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if self.device.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=True)

    # -------------------------------------------------------------- perturbations mixed on the device

    @property
    def mask_batch_size(self) -> int | None:
        """Masks per :meth:`predict_masks` call the engine should send (None: its own batch size)."""
        return self.MASKS_PER_CALL_ON_DEVICE if self.device.type != "cpu" else None

    def stage(self, component_audio: np.ndarray) -> torch.Tensor | None:
        """The components C (K x samples float32, 16 kHz) on the network's device, copied once per
        explanation (from pinned memory on a GPU); None when ``compose`` is ``host`` (the engine
        then mixes on the host and calls :meth:`predict`)."""
        if self.compose == "host":
            return None
        for audio in np.asarray(component_audio):
            self._check_audio(np.asarray(audio, dtype=np.float32))
        return self._to_device(component_audio)

    def predict_masks(self, staged: torch.Tensor, masks: np.ndarray, empty_value: float) -> np.ndarray:
        """(B, K) masks -> (B, labels) probabilities of the mixtures ``masks @ C`` (an all-off mask
        plays ``empty_value`` in every sample), mixed on the device in slices of about
        ``batch_size`` patches: what :meth:`predict` gives for the same audio mixed on the host
        (within float32 rounding of the products)."""
        on_device = self._to_device(masks)
        per_input = 1 + (1 + staged.shape[1] // HOP - PATCH_FRAMES) // self.hop_frames  # patches per mixture
        step = max(1, self.batch_size // max(1, per_input))
        outputs = []
        with torch.inference_mode():
            for first in range(0, len(on_device), step):
                chunk = on_device[first : first + step]
                audio = chunk @ staged  # (b, samples)
                audio[chunk.sum(dim=1) == 0] = empty_value
                patches = patches_batch(audio, self.hop_frames)
                probabilities = self._chunked_probabilities(patches)
                outputs.append(probabilities.view(len(chunk), -1, probabilities.shape[-1]).mean(dim=1))
            return torch.cat(outputs).cpu().numpy()

    # -------------------------------------------------------------- model randomization (sanity check)

    @property
    def randomization_layers(self) -> tuple[str, ...]:
        """The network's layers, top (output) first, as ``randomized`` counts them."""
        return layer_names(VARIANTS[self.variant].architecture)

    def randomized(self, layers: int = 1, seed: int = 0) -> "MusicnnTagger":
        """A copy of this tagger whose top ``layers`` layers have seeded random weights (cascading
        randomization: ``layers=2`` keeps the random output layer of ``layers=1``). This tagger is untouched."""
        if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or not 0 <= layers <= len(self.randomization_layers):
            raise UsageError(
                f"layers must be a count from 0 to {len(self.randomization_layers)} "
                f"({', '.join(self.randomization_layers)}), got {layers!r}"
            )
        clone = copy.copy(self)
        clone._network = randomize_top_layers(self.network, int(layers), seed)
        clone._fast_network = None  # folded from the randomized layers on first use
        clone.name = f"{self.name} (top {layers} layers random, seed {seed})"
        return clone

    def taggram(self, audio: np.ndarray) -> np.ndarray:
        """(P, labels) probabilities, one row per patch (every ``taggram_hop_seconds``)."""
        with one_blas_thread():
            patches = self.patches(audio)
        return self.patch_probabilities(patches)

    def features(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """musicnn's extractor outputs: ``taggram`` (P, L) and, for musicnn models, ``timbral``,
        ``temporal``, ``cnn1``..``cnn3`` (P*187, C: patches stacked in time), ``mean_pool``,
        ``max_pool`` (P, 753) and ``penultimate`` (P, 200)."""
        out = self._extract(self.patches(audio))
        return {key: value.reshape(-1, value.shape[-1]) if value.ndim == 3 else value for key, value in out.items()}
