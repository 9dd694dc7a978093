"""Quality measures: SI-SDR of a separated stem, frame-level F1 of a transcription (mir_eval).

SI-SDR (Le Roux, Wisdom, Erdogan & Hershey, "SDR - half-baked or well done?", ICASSP 2019):
the estimate is projected on the reference, ``target = (<s_hat, s> / ||s||^2) s``, and
``SI-SDR = 10 log10(||target||^2 / ||s_hat - target||^2)``, in float64, no mean removal.
"""

from __future__ import annotations

import numpy as np

from .instruments import DRUM_CLASS_OF_KEY

ONSET_WINDOW = 0.05  # seconds: mir_eval's default tolerance for a matched onset


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB of ``estimate`` against ``reference`` (same length); nan for a silent reference."""
    s_hat = np.asarray(estimate, np.float64)
    s = np.asarray(reference, np.float64)
    if s.shape != s_hat.shape:
        raise ValueError(f"estimate {s_hat.shape} and reference {s.shape} differ in shape")
    energy = float(np.dot(s, s))
    if energy == 0.0:
        return float("nan")
    target = (float(np.dot(s_hat, s)) / energy) * s
    noise = float(np.sum((s_hat - target) ** 2))
    signal = float(np.dot(target, target))
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return float(10 * np.log10(signal / noise))


def _frequencies(rows: np.ndarray, times: np.ndarray) -> list[np.ndarray]:
    """The sounding pitches in Hz at each of ``times`` (a note sounds in [start, end))."""
    import mir_eval

    active = (rows[:, 0][None, :] <= times[:, None]) & (times[:, None] < rows[:, 1][None, :])  # (frames, notes)
    return [mir_eval.util.midi_to_hz(rows[active[t], 2]) for t in range(len(times))]


def frame_f1(estimated: np.ndarray, reference: np.ndarray, times: np.ndarray) -> float:
    """Frame-level F1 of multi-pitch transcription on the frame grid ``times`` (s), from
    mir_eval.multipitch's precision and recall (a pitch matches within half a semitone in its
    frame, frames summed); notes as (N, 3) rows of start, end, MIDI pitch. nan when the
    reference has no notes. Both sides share one grid, so mir_eval's resampling and its
    chroma metrics (the slow half of ``mir_eval.multipitch.metrics``) are skipped."""
    from mir_eval import multipitch

    if not len(reference):
        return float("nan")
    if not len(estimated):
        return 0.0  # what mir_eval gives (precision and recall 0), without its warning about an empty estimate
    ref = multipitch.frequencies_to_midi(_frequencies(reference, times))
    est = multipitch.frequencies_to_midi(_frequencies(estimated, times))
    true_positives = np.zeros(len(times))
    both = [t for t in range(len(times)) if len(ref[t]) and len(est[t])]  # elsewhere no pitch can match
    if both:
        true_positives[both] = multipitch.compute_num_true_positives([ref[t] for t in both], [est[t] for t in both])
    precision, recall, _ = multipitch.compute_accuracy(true_positives, multipitch.compute_num_freqs(ref), multipitch.compute_num_freqs(est))
    return float(2 * precision * recall / (precision + recall)) if precision + recall > 0 else 0.0


def onset_f1(estimated: np.ndarray, reference: np.ndarray, classes: tuple[str, ...]) -> float:
    """Onset F1 of drum transcription, pooled over the drum ``classes``: an estimated hit
    matches a reference hit of the same class within 50 ms (mir_eval.util.match_events).
    nan when the reference has no hit of these classes."""
    import mir_eval

    matched = n_reference = n_estimated = 0
    for name in classes:
        ref = np.sort([row[0] for row in reference if DRUM_CLASS_OF_KEY.get(int(row[2])) == name])
        est = np.sort([row[0] for row in estimated if DRUM_CLASS_OF_KEY.get(int(row[2])) == name])
        n_reference, n_estimated = n_reference + len(ref), n_estimated + len(est)
        if len(ref) and len(est):
            matched += len(mir_eval.util.match_events(ref, est, ONSET_WINDOW))
    if n_reference == 0:
        return float("nan")
    return float(2 * matched / (n_reference + n_estimated))
