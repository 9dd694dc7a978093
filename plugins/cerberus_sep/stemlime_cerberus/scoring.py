"""How good a network is on whole tracks: SI-SDR per instrument (and the mixture's, the
do-nothing baseline), frame-level F1 of pitched transcription, onset F1 of drums.

The trainer's validation after each epoch and ``make bench`` both use :func:`evaluate`; the
trainer picks the model's decoding thresholds with :func:`choose_thresholds` on its validation
tracks.
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs
import numpy as np

from stemlime.plugin import Part, stems_residual_db

from .data import Track
from .inference import run
from .instruments import DRUMS
from .metrics import frame_f1, onset_f1, si_sdr
from .transcription import active_keys, column_offset, decode, drum_onsets, frames_per_second, part_rows, roll_targets

# the candidates choose_thresholds tries: low ones too, since the sigmoid of sparse targets stays low for long in training
THRESHOLD_GRID = (0.01, 0.02, 0.03, 0.05, 0.07, *(round(0.05 * i, 2) for i in range(2, 19)))  # 0.01 .. 0.9


def median(values: Sequence[float]) -> float | None:
    """The median of the finite ``values`` (dB), or None when none is finite: how every score here is summed up."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else None


@attrs.frozen
class Evaluation:
    """Per instrument, one value per track: ``si_sdr`` of the estimate, ``mixture_si_sdr`` of the
    mix itself, ``f1`` (frame-level for pitched instruments, onsets for drums). Tracks that lack
    an instrument count for none of its values. ``rest_db``, one per track: the energy of the
    ``rest`` stem (the mixture minus the instruments' stems: what the masks gave no instrument)
    over the mixture's, in dB, i.e. ``-stems_residual_db``; a loss that forgives a stem's level
    (SI-SDR) can leave much of an instrument there."""

    si_sdr: dict[str, list[float]]
    mixture_si_sdr: dict[str, list[float]]
    f1: dict[str, list[float]]
    tracks: int
    rest_db: list[float] = attrs.field(factory=list)

    def medians(self) -> dict[str, dict[str, float | None]]:
        """{instrument: {"si_sdr", "mixture_si_sdr", "f1"}: median over tracks} (None when no track has it)."""
        return {
            name: {"si_sdr": median(self.si_sdr[name]), "mixture_si_sdr": median(self.mixture_si_sdr[name]), "f1": median(self.f1[name])}
            for name in self.si_sdr
        }

    def score(self) -> float:
        """The mean over instruments of the median SI-SDR: what the trainer keeps the best checkpoint by."""
        values = [m["si_sdr"] for m in self.medians().values() if m["si_sdr"] is not None]
        return float(np.mean(values)) if values else float("-inf")

    def rest_median(self) -> float | None:
        """The median of ``rest_db`` over the tracks (dB; None when no track has a finite one)."""
        return median(self.rest_db)

    def to_dict(self) -> dict[str, Any]:
        return {"tracks": self.tracks, "median": self.medians(), "rest_db_median": self.rest_median()}


def evaluate(
    network: Any, tracks: Sequence[Track], device: Any = None, transcription: bool = True, thresholds: dict[str, float] | None = None
) -> Evaluation:
    """Separate (and, with ``transcription``, transcribe with the decoding ``thresholds``, see
    :func:`stemlime_cerberus.transcription.decode`) each track's mixture with ``network`` and
    score it; without ``transcription`` the F1 lists stay empty."""
    config = network.config
    names = config.instruments
    scores: dict[str, dict[str, list[float]]] = {key: {n: [] for n in names} for key in ("si_sdr", "mixture_si_sdr", "f1")}
    rest_db = []
    for track in tracks:
        mixture = track.mixture()
        output = run(network, mixture, device, roll=transcription)
        rest_db.append(-stems_residual_db(mixture, {name: output.estimates[name] for name in names}))
        parts = decode(config, output.roll, thresholds) if output.roll is not None else {}
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
    return Evaluation(scores["si_sdr"], scores["mixture_si_sdr"], scores["f1"], len(tracks), rest_db)


def frame_counts(config: Any, roll: np.ndarray, notes: dict[str, np.ndarray], threshold: float) -> dict[str, tuple[int, int, int]]:
    """{pitched instrument: (matched, estimated, reference)} key-frames of a roll of
    probabilities decoded at ``threshold`` (runs of MIN_NOTE_FRAMES or more, as :func:`decode`
    keeps them) against the true ``notes``, on the roll's frame grid: the counts from which
    :func:`~.metrics.frame_f1` (mir_eval) computes its F1, 2 matched / (estimated + reference)."""
    target = roll_targets(config, notes, 0.0, len(roll)) > 0.5
    counts = {}
    for name in config.pitched:
        columns = slice(column_offset(config, name), column_offset(config, name) + config.pitches)
        keys = active_keys(roll[:, columns], threshold)
        counts[name] = (int(np.sum(keys & target[:, columns])), int(np.sum(keys)), int(np.sum(target[:, columns])))
    return counts


def choose_thresholds(network: Any, tracks: Sequence[Track], device: Any = None) -> dict[str, float]:
    """{instrument: the decoding threshold from THRESHOLD_GRID with the best F1 on ``tracks``}
    (validation tracks: never the ones a model is reported on). Pitched instruments: frame F1
    pooled over the tracks (:func:`frame_counts`, what mir_eval's frame F1 counts); drums: the
    mean onset F1. An instrument the tracks never play keeps the fallback THRESHOLD."""
    from .transcription import THRESHOLD

    config = network.config
    pitched = {name: np.zeros((len(THRESHOLD_GRID), 3)) for name in config.pitched}  # matched, estimated, reference
    drums: list[list[float]] = [[] for _ in THRESHOLD_GRID]
    for track in tracks:
        roll = run(network, track.mixture(), device).roll
        if roll is None:
            return {}
        for i, threshold in enumerate(THRESHOLD_GRID):
            for name, counts in frame_counts(config, roll, track.notes, threshold).items():
                pitched[name][i] += counts
        if DRUMS in config.instruments and len(track.notes.get(DRUMS, ())):
            for i, threshold in enumerate(THRESHOLD_GRID):
                rows = part_rows(Part(tuple(drum_onsets(config, roll, threshold)), 0, True))
                drums[i].append(onset_f1(rows, track.notes[DRUMS], config.drum_classes))
    chosen = {}
    for name, counts in pitched.items():
        matched, estimated, reference = counts.T
        f1 = 2 * matched / np.maximum(estimated + reference, 1)
        chosen[name] = float(THRESHOLD_GRID[int(np.argmax(f1))]) if reference[0] else THRESHOLD
    if DRUMS in config.instruments:
        means = [float(np.nanmean(v)) if np.isfinite(v).any() else -1.0 for v in drums] if drums[0] else []
        chosen[DRUMS] = float(THRESHOLD_GRID[int(np.argmax(means))]) if means else THRESHOLD
    return {name: chosen[name] for name in config.instruments}


IDEAL_MASKS = ("psm", "psm-sum", "wiener", "irm", "magnitude")


def ideal_mask_si_sdr(tracks: Sequence[Track], config: Any, kind: str = "psm") -> dict[str, float | None]:
    """Median SI-SDR per instrument of an oracle mask (:func:`ideal_mask_scores`)."""
    return {name: median(v) for name, v in ideal_mask_scores(tracks, config, kind).items()}


def ideal_mask_scores(tracks: Sequence[Track], config: Any, kind: str = "psm") -> dict[str, list[float]]:
    """SI-SDR per instrument and track (dB; the tracks where it plays, in order, as
    :class:`Evaluation` lists them) of an oracle mask computed from the true stems and applied to
    the mixture's STFT. ``kind``:

    - "psm": the phase-sensitive mask truncated to [0, 1] (the target of the mask-inference loss,
      and the real mask in [0, 1] closest to each stem's STFT: no masking separator with this STFT
      does better);
    - "psm-sum": the PSM scaled down, in the bins where the sources' masks add up to more than
      one, to sum to one (the best a softmax over the sources, the network's masks, could reach);
    - "wiener": the power ratio |S_i|^2 / sum_j |S_j|^2 (masks that sum to one);
    - "irm": the ideal ratio mask |S_i| / sum_j |S_j| (masks that sum to one);
    - "magnitude": |S_i| / |X|, each stem's true magnitude with the mixture's phase (unbounded)."""
    import torch

    from .network import istft, stft

    if kind not in IDEAL_MASKS:
        raise ValueError(f"kind must be one of {IDEAL_MASKS}, got {kind!r}")
    values: dict[str, list[float]] = {name: [] for name in config.instruments}
    for track in tracks:
        sources = [*(n for n in config.instruments if n in track.stems), *(["rest"] if track.rest is not None else [])]
        audio = {**track.stems, "rest": track.rest}
        spectra = stft(torch.from_numpy(np.stack([audio[n] for n in sources])), config)  # (S, T, F)
        mixture = spectra.sum(dim=0)
        magnitude = mixture.abs().clamp_min(1e-8)
        if kind in ("psm", "psm-sum"):
            masks = torch.minimum(((spectra * mixture.conj()).real / magnitude).clamp_min(0.0), mixture.abs()) / magnitude
            if kind == "psm-sum":
                masks = masks / masks.sum(dim=0).clamp_min(1.0)
        elif kind == "magnitude":
            masks = spectra.abs() / magnitude
        else:
            power = 2 if kind == "wiener" else 1
            masks = spectra.abs() ** power / (spectra.abs() ** power).sum(dim=0).clamp_min(1e-12)
        estimates = istft(masks * mixture, config, track.length).numpy()
        for index, name in enumerate(sources):
            if name in values and np.any(track.stems[name]):
                values[name].append(si_sdr(estimates[index], track.stems[name]))
    return values


def gap_interval(
    scores: Sequence[float], ceiling: Sequence[float], level: float = 0.9, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """How far the gap ``median(ceiling) - median(scores)`` (dB) could move on other pieces like
    these: the central ``level`` share of its values over ``resamples`` bootstrap draws of the
    pieces, each piece's two scores drawn together (the two lists pair the same pieces, as
    :class:`Evaluation` and :func:`ideal_mask_scores` give them). The same every call (``seed``)."""
    pairs = np.array([(c, s) for s, c in zip(scores, ceiling, strict=True) if np.isfinite(s) and np.isfinite(c)], float)
    if not len(pairs):
        raise ValueError("gap_interval needs at least one piece with finite scores")
    draws = np.random.default_rng(seed).integers(0, len(pairs), size=(resamples, len(pairs)))
    gaps = np.median(pairs[draws, 0], axis=1) - np.median(pairs[draws, 1], axis=1)
    low, high = np.quantile(gaps, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
