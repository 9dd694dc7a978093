"""Speed of the spleeter plugin: separating 10 s of the fixture mixture (piece1, 44.1 kHz).

``run()`` returns the lines to print. Measured in the same run:

- the plugin's ``separate`` (2stems, CPU, mono in as the pipeline passes it) with 2 torch
  threads: the real-time factor (RTF, seconds of compute per second of audio), best of 5;
- the baseline: the same separation with 1 torch thread, best of 3 (the ratio is the speed-up
  that the second thread buys);
- for scale, spleeter's STFT + inverse STFTs alone (what every separation does besides the
  U-Nets), 2 threads.

TensorFlow spleeter's time is recalled, not measured: TF is never installed here.

On a machine whose cores other processes also use, two threads can be several times SLOWER
than one (OpenMP threads wait for each other when one is descheduled); the load average is
printed so that such a run can be recognised.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

MIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "spleeter" / "piece1_2stems_excerpt.npz"
SAMPLE_RATE = 44100
TF_SECONDS_FOR_10S = 2.6  # TensorFlow spleeter 2.4.2 (CPU), 2stems, 10 s of audio: documented reference


def _best(function, repeats: int) -> float:
    from run import best_of  # bench/run.py puts bench/ on the import path

    return best_of(function, repeats)


def _stft_round_trip(waveform: np.ndarray, n_stems: int) -> None:
    import torch

    from stemlime_spleeter.stft import SPLEETER_WINDOW_COMPENSATION, inverse_stft, stft

    x = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(waveform.T)), (4096, 0))
    spec = stft(x)
    for _ in range(n_stems):
        inverse_stft(spec) * SPLEETER_WINDOW_COMPENSATION


def run() -> list[str]:
    from stemlime import ModelFilesError, get_registry

    title = "spleeter 2stems, 10 s of piece1 at 44.1 kHz, CPU"
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")  # other processes' load
    try:
        import torch
    except ImportError:
        return [f"{title}: skipped (torch is not installed)"]
    mixture = np.load(MIXTURE)["mixture"].astype(np.float32) / 32768.0
    seconds = len(mixture) / SAMPLE_RATE
    separator = get_registry().build("separator", "spleeter:2stems,device=cpu")
    threads_before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        start = time.perf_counter()
        try:
            separator.load()
        except ModelFilesError:
            return [f"{title}: skipped (model files missing: stemlime models fetch spleeter/2stems)"]
        load = time.perf_counter() - start
        separator.separate(mixture, SAMPLE_RATE)  # warm-up
        two = _best(lambda: separator.separate(mixture, SAMPLE_RATE), 5)
        stereo = np.stack([mixture, mixture], axis=1)
        fourier = _best(lambda: _stft_round_trip(stereo, len(separator.stems)), 3)
        torch.set_num_threads(1)
        separator.separate(mixture, SAMPLE_RATE)  # warm-up at 1 thread
        one = _best(lambda: separator.separate(mixture, SAMPLE_RATE), 3)
    finally:
        torch.set_num_threads(threads_before)
    tf_rtf = TF_SECONDS_FOR_10S / 10.0
    return [
        title + f" (torch {torch.__version__}; {os.cpu_count()} CPUs, load average {load_average:.1f} before timing)",
        f"  weights: read and built in {load:.2f} s (once per process)",
        f"  separate, 2 threads: {two:.2f} s for {seconds:.0f} s, RTF {two / seconds:.3f}",
        f"  baseline, same separation with 1 thread: {one:.2f} s, RTF {one / seconds:.3f}; "
        f"speed-up from the second thread {one / two:.2f}x",
        f"  of which STFT + {len(separator.stems)} inverse STFTs alone (2 threads): {fourier:.3f} s "
        f"({100 * fourier / two:.0f}% of the separation)",
        f"  reference, not measured here: TensorFlow spleeter took ~{TF_SECONDS_FOR_10S} s for 10 s on this kind of "
        f"machine (RTF {tf_rtf:.2f}); the port at 2 threads: {TF_SECONDS_FOR_10S / 10 * seconds / two:.1f}x that speed",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
