"""What a plugin implements: the four protocols, with their optional slots declared in one place.

The core never guesses what an object can do from its signature. A plugin object has the
required members of its protocol, and may declare the optional slots listed in ``OPTIONAL``;
an undeclared optional slot takes the default given there. ``optional(obj, kind, slot)`` is
the one way the core reads them.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np


class Separator(Protocol):
    """Mono float32 audio in, stems of the same length out."""

    sample_rate: int | None  # Hz the separator works at; None: any (it gets the tagger's rate)

    def separate(self, audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]: ...

    # optional slot ``reads_excerpt`` (default False): True for a separator that reads the
    # excerpt's file itself (the oracle); it is then called as
    # ``separate(audio, sample_rate, excerpt=Excerpt)`` on the excerpt alone. Every other
    # separator gets the WHOLE input once (as audioLIME separated the full track), and its
    # stems are cached and cut to each excerpt.
    # optional slot ``transcribe(audio, sample_rate) -> {stem: stemlime.midi.Part}`` (default
    # None): the notes of each stem, seconds from the start of ``audio`` (Cerberus);
    # ``stemlime separate --midi`` writes them as ``<stem>.mid``.
    # optional slot ``fingerprint`` (default None): a string that changes whenever the
    # separator's stems would (e.g. the SHA-256 of retrainable weights); part of the stem cache key.
    # optional slot ``inputs(source) -> list of paths`` (default None): the files and folders
    # the separator reads for ``source`` besides it (the oracle's true stems); an output folder
    # never replaces them.


class Segmenter(Protocol):
    def segment(self, mix: np.ndarray, sample_rate: int) -> list[Any]: ...


class Tagger(Protocol):
    labels: Sequence[str]
    sample_rate: int  # Hz
    input_seconds: float | None  # fixed input length in seconds; None: any length

    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    # optional slots: ``outputs`` ("probabilities" or "scores"; default None: detected from the
    # values), ``randomization_layers`` and ``randomized(layers, seed)`` (the sanity check),
    # ``taggram(audio)`` with ``taggram_hop_seconds`` (its own output over time).
    # optional slots for a tagger on an accelerator, so that the engine's perturbations are
    # mixed where the tagger runs: ``stage(component_audio) -> handle or None`` gets C (K x T
    # float32 at the tagger's rate) once per explanation and returns what ``predict_masks``
    # needs (e.g. C on the GPU), or None to decline (the engine then mixes on the host and calls
    # ``predict``); ``predict_masks(handle, masks, empty_value) -> (B, L)`` gets (B, K) float32
    # masks and the value every sample of an all-off mask takes, and returns what
    # ``predict(masks @ C)`` would. ``mask_batch_size`` (default None: the engine's batch size):
    # masks per ``predict_masks`` call the tagger wants.


class Surrogate(Protocol):
    def fit(self, masks: np.ndarray, targets: np.ndarray, sample_weights: np.ndarray) -> Any: ...

    # optional slot ``sample_masks(n_components, samples, seed)``: the surrogate's own
    # neighbourhood (kernel SHAP's coalitions); default None: LIME's uniform masks.


OUTPUT_KINDS = ("probabilities", "scores")

OPTIONAL: dict[str, dict[str, Any]] = {
    "separator": {"reads_excerpt": False, "transcribe": None, "fingerprint": None, "inputs": None},
    "segmenter": {},
    "tagger": {
        "outputs": None,
        "randomization_layers": (),
        "randomized": None,
        "taggram": None,
        "taggram_hop_seconds": None,
        "stage": None,
        "predict_masks": None,
        "mask_batch_size": None,
    },
    "surrogate": {"sample_masks": None},
}


def optional(obj: Any, kind: str, slot: str) -> Any:
    """The value of a declared optional slot of a plugin object, or its default."""
    return getattr(obj, slot, OPTIONAL[kind][slot])
