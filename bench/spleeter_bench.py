"""Speed of the spleeter plugin: separating 10 s of the fixture mixture (piece1, 44.1 kHz).

``run()`` returns the rows of ``make bench``'s table (:mod:`table`). Measured in the same run:

- the plugin's ``separate`` (2stems, CPU, mono in as the pipeline passes it) on 2 threads (one
  stem's U-Net on each of 2 one-core workers): the real-time factor (RTF, seconds of compute per
  second of audio), best of 5;
- the baseline: the same separation on 1 thread, best of 3 (the ratio is the speed-up that the
  second thread buys);
- for scale, spleeter's STFT + inverse STFTs alone (what every separation does besides the
  U-Nets), 2 threads.

TensorFlow spleeter's time is recalled, not measured: TF is never installed here.

On a machine whose cores other processes also use, the second thread buys less (``make bench``
prints the load average so that such a run can be recognised).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from table import Row, best_timed, timed

MIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "spleeter" / "piece1_2stems_excerpt.npz"
SAMPLE_RATE = 44100
TF_SECONDS_FOR_10S = 2.6  # TensorFlow spleeter 2.4.2 (CPU), 2stems, 10 s of audio: documented reference


def _stft_round_trip(waveform: np.ndarray, n_stems: int) -> None:
    import torch

    from stemlime_spleeter.stft import SPLEETER_WINDOW_COMPENSATION, inverse_stft, stft

    x = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(waveform.T)), (4096, 0))
    spec = stft(x)
    for _ in range(n_stems):
        inverse_stft(spec) * SPLEETER_WINDOW_COMPENSATION


def run() -> list[Row]:
    from stemlime import ModelFilesError, get_registry

    title = "spleeter 2stems separate, 10 s of piece1 at 44.1 kHz, CPU"
    try:
        import torch
    except ImportError:
        return [Row(title, None, text="skipped", note="torch is not installed")]
    mixture = np.load(MIXTURE)["mixture"].astype(np.float32) / 32768.0
    seconds = len(mixture) / SAMPLE_RATE
    separator = get_registry().build("separator", "spleeter:2stems,device=cpu")
    threads_before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        try:
            load, load_cpu, _ = timed(separator.load)
        except ModelFilesError:
            return [Row(title, None, text="skipped", note="model files missing: stemlime models fetch spleeter/2stems")]
        separator.separate(mixture, SAMPLE_RATE)  # warm-up
        two, two_cpu, _ = best_timed(lambda: separator.separate(mixture, SAMPLE_RATE), 5)
        stereo = np.stack([mixture, mixture], axis=1)
        fourier, _, _ = best_timed(lambda: _stft_round_trip(stereo, len(separator.stems)), 3)
        torch.set_num_threads(1)
        separator.separate(mixture, SAMPLE_RATE)  # warm-up at 1 thread
        one, one_cpu, _ = best_timed(lambda: separator.separate(mixture, SAMPLE_RATE), 3)
    finally:
        torch.set_num_threads(threads_before)
    return [
        Row(
            title + ", 2 threads",
            two,
            cpu=two_cpu,
            baseline=one,
            baseline_cpu=one_cpu,
            baseline_what="1 thread",
            reference=TF_SECONDS_FOR_10S,
            reference_what="TensorFlow spleeter",
            note=f"RTF {two / seconds:.3f}; STFT + {len(separator.stems)} inverse STFTs alone {fourier:.3f} s "
            f"({100 * fourier / two:.0f}%); torch {torch.__version__}",
        ),
        Row("spleeter 2stems weights: read and built (once per process)", load, cpu=load_cpu),
    ]


if __name__ == "__main__":
    from table import render

    print(render(run()))
