"""How good a network is on whole tracks: SI-SDR per instrument (and the mixture's, the
do-nothing baseline), frame-level F1 of pitched transcription, onset F1 of drums.

The trainer's validation after each epoch and ``make bench`` both use :func:`evaluate`.
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs
import numpy as np

from .data import Track
from .inference import run
from .instruments import DRUMS
from .metrics import frame_f1, onset_f1, si_sdr
from .transcription import decode, frames_per_second, part_rows


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else None


@attrs.frozen
class Evaluation:
    """Per instrument, one value per track: ``si_sdr`` of the estimate, ``mixture_si_sdr`` of the
    mix itself, ``f1`` (frame-level for pitched instruments, onsets for drums). Tracks that lack
    an instrument count for none of its values."""

    si_sdr: dict[str, list[float]]
    mixture_si_sdr: dict[str, list[float]]
    f1: dict[str, list[float]]
    tracks: int

    def medians(self) -> dict[str, dict[str, float | None]]:
        """{instrument: {"si_sdr", "mixture_si_sdr", "f1"}: median over tracks} (None when no track has it)."""
        return {name: {"si_sdr": _median(self.si_sdr[name]), "mixture_si_sdr": _median(self.mixture_si_sdr[name]),
                       "f1": _median(self.f1[name])} for name in self.si_sdr}

    def score(self) -> float:
        """The mean over instruments of the median SI-SDR: what the trainer keeps the best checkpoint by."""
        values = [m["si_sdr"] for m in self.medians().values() if m["si_sdr"] is not None]
        return float(np.mean(values)) if values else float("-inf")

    def to_dict(self) -> dict[str, Any]:
        return {"tracks": self.tracks, "median": self.medians()}


def evaluate(network: Any, tracks: Sequence[Track], device: Any = None, transcription: bool = True) -> Evaluation:
    """Separate (and, with ``transcription``, transcribe) each track's mixture with ``network``
    and score it; without ``transcription`` the F1 lists stay empty."""
    config = network.config
    names = config.instruments
    scores: dict[str, dict[str, list[float]]] = {key: {n: [] for n in names} for key in ("si_sdr", "mixture_si_sdr", "f1")}
    for track in tracks:
        mixture = track.mixture()
        output = run(network, mixture, device, roll=transcription)
        parts = decode(config, output.roll) if output.roll is not None else {}
        times = np.arange(len(output.roll) if output.roll is not None else 0) / frames_per_second(config)
        for name in names:
            reference = track.stems.get(name)
            if reference is None or not np.any(reference):
                continue
            scores["si_sdr"][name].append(si_sdr(output.estimates[name], reference))
            scores["mixture_si_sdr"][name].append(si_sdr(mixture, reference))
            if name in parts and name in track.notes:
                estimated = part_rows(parts[name])
                if name == DRUMS:
                    scores["f1"][name].append(onset_f1(estimated, track.notes[name], config.drum_classes))
                else:
                    scores["f1"][name].append(frame_f1(estimated, track.notes[name], times))
    return Evaluation(scores["si_sdr"], scores["mixture_si_sdr"], scores["f1"], len(tracks))


def ideal_mask_si_sdr(tracks: Sequence[Track], config: Any) -> dict[str, float | None]:
    """Median SI-SDR per instrument of the oracle: the phase-sensitive mask computed from the true
    stems (the target of the mask-inference loss) applied to the mixture. No masking separator
    with this STFT can do better on these tracks: it is the ceiling the network is trained toward."""
    import torch

    from .network import istft, stft

    values: dict[str, list[float]] = {name: [] for name in config.instruments}
    for track in tracks:
        names = [n for n in config.instruments if n in track.stems and np.any(track.stems[n])]
        sources = torch.from_numpy(np.stack([track.stems[n] for n in names]))
        spectra = stft(sources, config)  # (S, T, F)
        mixture = stft(torch.from_numpy(track.mixture())[None], config)[0]
        magnitude = mixture.abs().clamp_min(1e-8)
        masks = torch.minimum(((spectra * mixture.conj()).real / magnitude).clamp_min(0.0), mixture.abs()) / magnitude
        estimates = istft(masks * mixture, config, track.length).numpy()
        for index, name in enumerate(names):
            values[name].append(si_sdr(estimates[index], track.stems[name]))
    return {name: _median(v) for name, v in values.items()}
