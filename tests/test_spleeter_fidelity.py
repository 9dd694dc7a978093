"""Fidelity of the torch spleeter port against TensorFlow spleeter 2.4.2's 2stems output.

Needs the official 2stems checkpoint in the model cache (``stemlime models fetch
spleeter/2stems``, or ``$MODEL_PATH/2stems``); skipped without it. The data is in
tests/data/spleeter/ (see its README): the full 10-s mixture and the reference stems from 1.0 s
to 4.0 s.
"""

from __future__ import annotations

from model_support import spleeter_folder

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stemlime_spleeter.separation import separate  # noqa: E402
from stemlime_spleeter.unet import MODEL_CONFIGS, build_networks, stem_variable_names  # noqa: E402

DATA = Path(__file__).parent / "data" / "spleeter" / "piece1_2stems_excerpt.npz"
MIN_SDR_DB = 40.0


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref.astype(np.float64)
    err = ref - est.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / np.sum(err**2)))


@pytest.fixture(scope="module")
def checkpoint_dir() -> Path:
    return spleeter_folder("2stems")


@pytest.fixture(scope="module")
def tensors(checkpoint_dir):
    from stemlime.tfcheckpoint import read_checkpoint

    return read_checkpoint(checkpoint_dir / "model")


def _networks(tensors):
    cfg = MODEL_CONFIGS["2stems"]
    return build_networks(
        tensors,
        cfg["stems"],
        conv_activation=cfg["conv_activation"],
        deconv_activation=cfg["deconv_activation"],
        mask=cfg["mask"],
        n_bins=cfg["n_bins"],
    )


def test_2stems_matches_tensorflow_reference(tensors):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = np.load(DATA)
    mono = data["mixture"].astype(np.float32) / 32768.0
    out = separate(np.stack([mono, mono], axis=1), _networks(tensors))
    start, stop = int(data["start"]), int(data["stop"])
    for stem in ("vocals", "accompaniment"):
        assert out[stem].shape == (mono.shape[0], 2)
        assert out[stem].dtype == np.float32
        sdr = _sdr(data[stem].astype(np.float32), out[stem][start:stop])
        assert sdr >= MIN_SDR_DB, f"{stem}: SDR {sdr:.1f} dB < {MIN_SDR_DB} dB against TensorFlow spleeter"


def test_wrong_shape_names_the_variable(tensors):
    bad = dict(tensors)
    bad["conv2d_3/kernel"] = np.zeros((5, 5, 64, 64), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_3/kernel.*\(5, 5, 64, 64\)"):
        _networks(bad)


def test_missing_variable_names_the_stem(tensors):
    # 4stems order is vocals, drums, bass, other: conv2d_14 is the first layer of stem 2 (bass).
    with pytest.raises(ValueError, match=r"conv2d_14/kernel.*'bass'"):
        cfg = MODEL_CONFIGS["4stems"]
        build_networks(tensors, cfg["stems"], cfg["conv_activation"], cfg["deconv_activation"])


def _synthetic_tensors(n_stems: int) -> dict[str, np.ndarray]:
    """Random variables with the checkpoint's names and shapes for ``n_stems`` stems."""
    from stemlime_spleeter.unet import UNet

    rng = np.random.default_rng(0)
    out = {}
    net = UNet()
    for i in range(n_stems):
        names = stem_variable_names(i)
        convs = [b.conv for b in net.down] + [net.final]
        for name, conv in zip(names["conv"], convs):
            co, ci, kh, kw = conv.weight.shape
            out[f"{name}/kernel"] = rng.standard_normal((kh, kw, ci, co)).astype(np.float32) * 0.05
            out[f"{name}/bias"] = np.zeros(co, np.float32)
        for name, block in zip(names["deconv"], net.up):
            ci, co, kh, kw = block.deconv.weight.shape
            out[f"{name}/kernel"] = rng.standard_normal((kh, kw, co, ci)).astype(np.float32) * 0.05
            out[f"{name}/bias"] = np.zeros(co, np.float32)
        bns = [b.bn for b in net.down] + [b.bn for b in net.up]
        for name, bn in zip(names["bn"], bns):
            n = bn.num_features
            out[f"{name}/gamma"] = np.ones(n, np.float32)
            out[f"{name}/beta"] = np.zeros(n, np.float32)
            out[f"{name}/moving_mean"] = np.zeros(n, np.float32)
            out[f"{name}/moving_variance"] = np.ones(n, np.float32)
    return out


def test_more_stems_in_checkpoint_than_requested_is_rejected():
    tensors = _synthetic_tensors(4)
    with pytest.raises(ValueError, match="conv2d_14"):
        build_networks(tensors, ["vocals", "accompaniment"])


@pytest.mark.parametrize("model", ["4stems", "5stems"])
def test_generic_stem_count_runs_and_masks_sum_to_mixture(model):
    cfg = MODEL_CONFIGS[model]
    nets = build_networks(
        _synthetic_tensors(len(cfg["stems"])),
        cfg["stems"],
        conv_activation=cfg["conv_activation"],
        deconv_activation=cfg["deconv_activation"],
        mask=cfg["mask"],
        n_bins=cfg["n_bins"],
    )
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((30000, 2))).astype(np.float32)
    out = separate(x, nets)
    assert list(out) == list(cfg["stems"])
    # Ratio masks sum to 1 below F and the extension is 0 above: the stems add up to the
    # mixture low-passed at bin 1024 (about 11 kHz); check the low band via the spectrum.
    total = sum(out.values())
    spec_x = np.fft.rfft(x[:, 0])
    spec_t = np.fft.rfft(total[:, 0])
    low = slice(1, len(spec_x) * 9 // 22)  # < 9 kHz, well below the cut
    rel = np.linalg.norm(spec_t[low] - spec_x[low]) / np.linalg.norm(spec_x[low])
    assert rel < 0.05


def test_the_first_frames_alone_equal_the_whole_u_nets_first_frames(tensors):
    """The last segment of a song is mostly padding: the U-Net computes only the rows that reach
    its real frames, and gets the numbers of the whole 512-frame evaluation, bit for bit; so do
    the one-core worker threads that run one stem each."""
    from stemlime.workers import cpu_workers

    torch.set_num_threads(min(2, torch.get_num_threads()))
    networks = _networks(tensors)
    mag = torch.from_numpy(np.random.default_rng(0).gamma(0.5, 2.0, (1, 2, 512, 1024)).astype(np.float32))
    with torch.inference_mode():
        whole = networks(mag)
        for frames, workers in ((5, None), (177, cpu_workers(2))):
            first = networks(mag, frames, workers)
            for stem in ("vocals", "accompaniment"):
                assert first[stem].shape == (1, 2, frames, 1024)
                assert torch.equal(first[stem], whole[stem][:, :, :frames]), (stem, frames)


# the real-model fidelity tier: reference numbers of the original models (make test runs it, make check does not)
pytestmark = pytest.mark.slow
