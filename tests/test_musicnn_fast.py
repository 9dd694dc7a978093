"""The fast musicnn tagger: folded batch norms, one-core worker threads, a front end without librosa.

The folded network must compute what the trained layers compute (to float32 rounding), for
every shipped variant, for the sanity check's randomized copies, and under every way the
workers split a batch; the numpy front end must give librosa's numbers. The checkpoint tests
read the cached model files and are skipped without them.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from model_support import musicnn_folder
from stemlime.errors import AudioError, UsageError
from stemlime_musicnn import frontend
from stemlime_musicnn.folded import FoldedMusicnn, FoldedVgg, fold, native_bfloat16
from stemlime_musicnn.networks import FrozenBatchNorm, Musicnn, Vgg
from stemlime_musicnn.workers import CpuWorkers

DATA = Path(__file__).resolve().parent / "data" / "musicnn"
VARIANTS = ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"]
EXACT = 1e-5  # folded vs trained layers, probabilities


@functools.lru_cache(maxsize=None)
def _audio(piece: str) -> np.ndarray:
    audio, rate = soundfile.read(DATA / f"{piece}_mixture_16k.wav", dtype="float32")
    assert rate == frontend.SAMPLE_RATE
    return audio


@functools.lru_cache(maxsize=None)
def _real_patches() -> np.ndarray:
    """(20, 187, 96) log-mel patches of piece1 and piece2, every 45 frames (0.72 s)."""
    return np.concatenate([frontend.cut_patches(frontend.log_mel(_audio(p)), 187, 45) for p in ("piece1", "piece2")])


@functools.lru_cache(maxsize=None)
def _tagger(variant: str):
    from stemlime_musicnn.tagger import MusicnnTagger

    musicnn_folder(variant)  # skips without the model files
    return MusicnnTagger(variant, device="cpu")


def _trained(network: torch.nn.Module, patches: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return network(torch.from_numpy(patches)).numpy()


def _with_random_batch_norms(network: Musicnn | Vgg, seed: int = 0) -> Musicnn | Vgg:
    """Batch norms with scales of both signs, some near zero, and nonzero means and shifts."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, FrozenBatchNorm):
                n = module.num_features
                module.weight.copy_(torch.randn(n, generator=generator) * 2)
                module.weight[::7] = 1e-9
                module.bias.copy_(torch.randn(n, generator=generator) * 0.3)
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.05)
    return network.eval()


# ------------------------------------------------------------------ folding is exact


@pytest.mark.parametrize("family", [Musicnn, Vgg])
def test_folding_is_exact_for_batch_norm_scales_of_either_sign(family):
    torch.manual_seed(0)
    network = _with_random_batch_norms(family())
    patches = _real_patches()[:6]
    folded = fold(network)
    assert isinstance(folded, FoldedMusicnn if family is Musicnn else FoldedVgg)
    assert any((bn.weight < 0).any() for bn in network.modules() if isinstance(bn, FrozenBatchNorm))
    np.testing.assert_allclose(_trained(folded, patches), _trained(network, patches), atol=EXACT, rtol=0)


@pytest.mark.parametrize("family", [Musicnn, Vgg])
def test_folding_is_exact_without_onednn_too(family, monkeypatch):
    # the path that CUDA and bfloat16 take: PyTorch's conv2d and max-pool on its own layout
    torch.manual_seed(1)
    network = _with_random_batch_norms(family(), seed=1)
    patches = _real_patches()[:3]
    expected = _trained(network, patches)
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    np.testing.assert_allclose(_trained(fold(network), patches), expected, atol=EXACT, rtol=0)


def test_a_used_folded_network_can_be_copied():
    import copy

    folded = fold(Musicnn())
    patches = torch.from_numpy(_real_patches()[:2])
    with torch.inference_mode():
        first = folded(patches)  # makes oneDNN's opaque copies of the weights
        assert torch.equal(copy.deepcopy(folded)(patches), first)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("family", [Musicnn, Vgg])
def test_the_folded_network_on_cuda_matches_the_cpu(family):
    network = _with_random_batch_norms(family(), seed=2)
    patches = _real_patches()[:5]
    expected = _trained(network, patches)
    on_gpu = fold(network.cuda())
    with torch.inference_mode():
        gpu = on_gpu(torch.from_numpy(patches).cuda()).cpu().numpy()
    np.testing.assert_allclose(gpu, expected, atol=1e-3, rtol=0)  # as the trained layers' CUDA test


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_folded_network_equals_the_trained_layers_on_real_audio(variant):
    tagger = _tagger(variant)
    patches = _real_patches()
    np.testing.assert_allclose(_trained(tagger.fast_network, patches), _trained(tagger.network, patches), atol=EXACT, rtol=0)


@pytest.mark.parametrize("variant", ["MSD_musicnn", "MSD_vgg"])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_the_workers_split_any_batch_without_changing_the_outputs(variant, batch_size):
    # batch 1 on 2 workers: musicnn's front end is split over the frames; 3: patches 2 + 1
    tagger = _tagger(variant)
    patches = _real_patches()[:7]
    tagger.batch_size = batch_size
    try:
        np.testing.assert_allclose(tagger.patch_probabilities(patches), _trained(tagger.network, patches), atol=EXACT, rtol=0)
    finally:
        tagger.batch_size = 64


def test_fold_false_runs_the_trained_layers():
    from stemlime_musicnn.tagger import MusicnnTagger

    musicnn_folder("MSD_musicnn")
    tagger = MusicnnTagger("MSD_musicnn", device="cpu", fold=False)
    patches = _real_patches()[:4]
    assert np.array_equal(tagger.patch_probabilities(patches), _trained(tagger.network, patches))
    assert tagger._fast_network is None


@pytest.mark.parametrize("layers", [1, 3, 7])
def test_a_randomized_taggers_fast_path_equals_its_own_trained_layers(layers):
    tagger = _tagger("MSD_musicnn")
    patches = _real_patches()[:4]
    trained_fast = tagger.patch_probabilities(patches)  # builds the original's folded network first
    random = tagger.randomized(layers=layers, seed=0)
    fast = random.patch_probabilities(patches)
    np.testing.assert_allclose(fast, _trained(random.network, patches), atol=EXACT, rtol=0)
    assert not np.allclose(fast, trained_fast, atol=1e-3), "the copy folds its own random layers"
    np.testing.assert_array_equal(tagger.patch_probabilities(patches), trained_fast)


def test_bf16_stays_within_5e_3_of_fp32():
    from stemlime_musicnn.tagger import MusicnnTagger

    musicnn_folder("MSD_musicnn")
    patches = frontend.cut_patches(frontend.log_mel(_audio("piece1")))  # 3 patches (bf16 is slow on AVX2 CPUs)
    full = _tagger("MSD_musicnn").patch_probabilities(patches)
    half = MusicnnTagger("MSD_musicnn", device="cpu", precision="bf16").patch_probabilities(patches)
    assert 0 < np.abs(half - full).max() < 5e-3


@pytest.mark.skipif(not native_bfloat16(), reason="this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
def test_bf16_on_a_native_cpu_runs_the_front_end_as_onednn_bfloat16_convolutions():
    bank = _tagger("MSD_musicnn").fast_network.filters[0]  # the 7 x 38 timbral filters
    rows = torch.from_numpy(_real_patches()[:2, :60]).unsqueeze(1)  # (2, 1, 60, 96)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        pooled = bank.pooled(rows)
    assert pooled.dtype == torch.bfloat16
    # the same products on bfloat16-rounded inputs and weights, accumulated in float32: equal up
    # to the rounding of the output to bfloat16 (8 significant bits)
    rounded = lambda t: t.to(torch.bfloat16).float()  # noqa: E731
    wide = torch.nn.functional.conv2d(rounded(rows), rounded(bank.weight))
    expected = wide.amax(dim=3)
    assert torch.allclose(pooled.float(), expected, rtol=2**-8, atol=1e-6)
    assert not torch.equal(pooled.float(), bank.pooled(rows)), "float32 outside autocast"


# ------------------------------------------------------------------ the front end on the network's device


def test_the_device_front_end_is_musicnns_log_mel_within_1e_3():
    from stemlime_musicnn.device_frontend import log_mel_batch, patches_batch

    audio = np.stack([_audio("piece1"), _audio("piece2")])  # (2, 160000): 10 s each
    exact = np.stack([frontend.log_mel(a) for a in audio])
    on_device = log_mel_batch(torch.from_numpy(audio)).numpy()
    assert on_device.shape == exact.shape == (2, 626, 96)
    assert np.abs(on_device - exact).max() < 1e-3  # float32 FFT: a few float16 rounding steps move
    patches = patches_batch(torch.from_numpy(audio), hop_frames=45).numpy()
    expected = np.concatenate([frontend.cut_patches(e, 187, 45) for e in exact])
    assert patches.shape == expected.shape == (2 * 10, 187, 96)
    assert np.abs(patches - expected).max() < 1e-3


@pytest.mark.parametrize("overlap", [0.0, 1.5])
def test_predict_with_the_device_front_end_equals_the_exact_one_within_1e_4(overlap):
    from stemlime_musicnn.tagger import MusicnnTagger

    musicnn_folder("MSD_musicnn")
    snippets = np.stack([_audio("piece1")[16000 * i : 16000 * (i + 6)] for i in (0, 2, 4)])  # 6 s: 2 or 3 patches each
    exact = MusicnnTagger("MSD_musicnn", device="cpu", overlap=overlap)
    on_device = MusicnnTagger("MSD_musicnn", device="cpu", overlap=overlap, frontend="torch")
    assert exact.frontend == "numpy" and on_device.frontend == "torch"
    np.testing.assert_allclose(on_device.predict(snippets), exact.predict(snippets), atol=1e-4, rtol=0)
    with pytest.raises(AudioError, match="at least 47616 samples"):
        on_device.predict(snippets[:, :16000])
    with pytest.raises(UsageError, match="frontend=.gpu. is not one of auto, numpy, torch"):
        MusicnnTagger("MSD_musicnn", device="cpu", frontend="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_predict_on_cuda_matches_the_cpu(precision):
    from stemlime_musicnn.tagger import MusicnnTagger

    musicnn_folder("MSD_musicnn")
    snippets = np.stack([_audio(piece)[8000 * i : 8000 * i + 48000] for piece in ("piece1", "piece2") for i in range(8)])
    gpu = MusicnnTagger("MSD_musicnn", device="cuda", precision=precision)
    assert gpu.frontend == "torch"
    tolerance = 1e-3 if precision == "fp32" else 2e-2
    np.testing.assert_allclose(gpu.predict(snippets), _tagger("MSD_musicnn").predict(snippets), atol=tolerance, rtol=0)


@pytest.mark.parametrize("family", ["MSD_musicnn", "MTT_musicnn"])
def test_the_gemm_front_end_equals_the_convolution_within_1e_5(family):
    """The tensor-core formulation (banded matrices for the timbral banks, one product per frame
    block; the temporal banks as products over every band) against the convolution, on the CPU."""
    from stemlime_musicnn.folded import gemm_max_over_bands, gemm_weight

    import copy

    network = fold(_with_random_batch_norms(copy.deepcopy(_tagger(family).network)))  # the real filters, BN of both signs
    patches = torch.from_numpy(_real_patches()[:6])
    with torch.inference_mode():
        x, _ = network.prepare(patches)
        for bank in network.filters:
            filters, _, length, height = bank.weight.shape
            rows = x[:, :, : 187 + length - 1]
            convolution = bank.pooled(rows)
            products = gemm_max_over_bands(rows, gemm_weight(bank.weight, 96), length, height)
            scale = float(convolution.abs().max())
            assert products.shape == convolution.shape == (6, filters, 187)
            assert float((products - convolution).abs().max()) <= 1e-5 * max(scale, 1.0)
        expected = network(patches)
        for bank in network.filters:
            bank.gemm = True
        np.testing.assert_allclose(network(patches).numpy(), expected.numpy(), rtol=0, atol=EXACT)


def test_the_gemm_front_end_gives_the_same_values_in_slices_of_any_size(monkeypatch):
    from stemlime_musicnn import folded

    network = fold(_tagger("MSD_musicnn").network)
    patches = torch.from_numpy(_real_patches()[:3])
    with torch.inference_mode():
        for bank in network.filters:
            bank.gemm = True
        whole = network(patches)
        monkeypatch.setattr(folded, "GEMM_OUTPUT_ELEMENTS", 5000)  # many small slices: one row, one patch
        # the same values up to the BLAS kernel's blocking of fewer rows (float32 rounding)
        np.testing.assert_allclose(network(patches).numpy(), whole.numpy(), rtol=0, atol=1e-6)


def test_an_explanation_mixed_on_the_device_equals_the_host_path():
    import stemlime

    musicnn_folder("MSD_musicnn")
    piece = Path(__file__).resolve().parent / "data" / "piece1_16k" / "mixture.wav"
    explained = {}
    for compose in ("host", "device"):
        pipeline = stemlime.Pipeline(tagger=f"musicnn,device=cpu,compose={compose}", separator="oracle")
        explained[compose] = pipeline.explain(piece, duration=4.0, samples=64, seed=0, labels=["rock"])
    host, device = explained["host"], explained["device"]
    # the device path computes the log-mel in torch (within 1e-4 of musicnn's numpy front end)
    np.testing.assert_allclose(device.neighbourhood.predictions, host.neighbourhood.predictions, rtol=0, atol=1e-4)
    np.testing.assert_allclose(list(device.weights("rock").values()), list(host.weights("rock").values()), rtol=0, atol=1e-4)


# ------------------------------------------------------------------ worker threads


def test_worker_threads_flush_denormals_and_the_caller_keeps_them():
    # musicnn's mid end multiplies the front end by weights below 1e-20 (69% of its first layer):
    # denormal products, which x86 cores compute slowly; the workers flush them, as TensorFlow's
    # threads do
    tiny = lambda: (torch.tensor([1e-30]) * torch.tensor([1e-10])).item()  # noqa: E731  1e-40 is denormal
    assert CpuWorkers(2).run([tiny, tiny]) == [0.0, 0.0]
    assert tiny() == pytest.approx(1e-40, rel=1e-3), "the calling thread's arithmetic is untouched"


def test_worker_threads_leave_the_callers_thread_count_alone():
    before = torch.get_num_threads()
    workers = CpuWorkers(2)
    assert workers.run([torch.get_num_threads, torch.get_num_threads]) == [1, 1]
    assert torch.get_num_threads() == before
    seen = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert seen == [before], "threads started later get the process's default, not the workers' 1"


# ------------------------------------------------------------------ the front end equals librosa's


@pytest.mark.parametrize("sample_rate, n_fft, n_mels", [(16000, 512, 96), (22050, 2048, 128), (44100, 1024, 40)])
def test_mel_filterbank_equals_librosas(sample_rate, n_fft, n_mels):
    librosa = pytest.importorskip("librosa")
    ours = frontend.mel_filterbank(sample_rate, n_fft, n_mels)
    theirs = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-7


def test_hann_window_equals_scipys():
    from scipy.signal import get_window

    assert np.array_equal(frontend.hann_window(512), get_window("hann", 512, fftbins=True))


@pytest.mark.parametrize("excerpt", [slice(None), slice(0, 48000), slice(16000, 63616), slice(3, 12348)])
def test_mel_spectrogram_equals_librosas_bit_for_bit(excerpt):
    librosa = pytest.importorskip("librosa")
    for piece in ("piece1", "piece2"):
        audio = np.ascontiguousarray(_audio(piece)[excerpt])
        theirs = librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=512, hop_length=256, n_mels=96)
        assert np.array_equal(frontend.mel_spectrogram(audio), theirs)


@pytest.mark.parametrize("seconds", [0.0, 0.01, 0.016, 0.5, 1.0, 1.234, 2.99])
def test_seconds_to_frames_equals_librosas_time_to_frames(seconds):
    librosa = pytest.importorskip("librosa")
    assert frontend.seconds_to_frames(seconds) == int(librosa.time_to_frames(seconds, sr=16000, n_fft=512, hop_length=256))


def test_tagging_does_not_import_librosa():
    musicnn_folder("MSD_musicnn")
    code = (
        "import sys, numpy as np\n"
        "from stemlime import get_registry\n"
        "tagger = get_registry().build('tagger', 'musicnn,device=cpu,overlap=1')\n"
        "tagger.predict(np.zeros((2, 48000), np.float32))\n"
        "tagger.features(np.zeros(48000, np.float32))\n"
        "assert 'librosa' not in sys.modules, 'librosa was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
