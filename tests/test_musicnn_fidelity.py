"""Fidelity of the PyTorch musicnn ports against the original TensorFlow models.

The checkpoint-based tests read the musicnn checkpoints from stemlime's model cache
(`make install` fetches them); without them those tests are skipped.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

DATA = Path(__file__).resolve().parent / "data" / "musicnn"

from model_support import musicnn_folder
from stemlime_musicnn import frontend
from stemlime_musicnn.networks import (
    VARIANTS,
    Musicnn,
    Vgg,
    build_network,
    musicnn_variable_names,
    vgg_variable_names,
)

MODELS = ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"]
PIECES = ["piece1", "piece2"]
FEATURES = ["timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate"]
TAGGRAM_TOL = 1e-4
FEATURE_TOL = 1e-3


# ----------------------------------------------------------------------------- helpers


def _reference(piece: str, model: str) -> dict[str, np.ndarray]:
    with np.load(DATA / f"{piece}_{model}.npz") as z:
        return {k: z[k] for k in z.files}


@functools.lru_cache(maxsize=None)
def _audio(piece: str) -> np.ndarray:
    audio, sr = sf.read(DATA / f"{piece}_mixture_16k.wav", dtype="float32")
    assert sr == frontend.SAMPLE_RATE and audio.ndim == 1
    return audio


@functools.lru_cache(maxsize=None)
def _patches(piece: str) -> np.ndarray:
    return frontend.cut_patches(frontend.log_mel(_audio(piece)))


@functools.lru_cache(maxsize=None)
def _network(model: str):
    from stemlime.tfcheckpoint import read_checkpoint

    folder = musicnn_folder(model)  # the verified model cache; skips if not fetched
    names = musicnn_variable_names() if VARIANTS[model].architecture == "musicnn" else vgg_variable_names()
    return build_network(model, read_checkpoint(f"{folder}/", names=names))


def _fake_tensors(architecture: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Random variables with the shapes (and TF names) of the shipped checkpoints."""
    rng = np.random.default_rng(seed)
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name, shape):
        shapes[f"{name}/kernel"] = shape
        shapes[f"{name}/bias"] = (shape[-1],)

    if architecture == "musicnn":
        conv_shapes = [(7, 38, 1, 204), (7, 67, 1, 204), (128, 1, 1, 51), (64, 1, 1, 51),
                       (32, 1, 1, 51), (7, 561, 1, 64), (7, 64, 1, 64), (7, 64, 1, 64)]  # fmt: skip
        for i, s in enumerate(conv_shapes):
            conv("conv2d" if i == 0 else f"conv2d_{i}", s)
        bn_sizes = [1, 204, 204, 51, 51, 51, 64, 64, 64, 1506, 200]
        conv("dense", (1506, 200))
        conv("dense_1", (200, 50))
    else:
        conv("1CNN", (3, 3, 1, 128))
        for i in range(2, 6):
            conv(f"{i}CNN", (3, 3, 128, 128))
        bn_sizes = [1] + [128] * 5
        conv("dense", (256, 50))
    for i, n in enumerate(bn_sizes):
        bn = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        shapes[f"{bn}/gamma"] = (n,)
        shapes[f"{bn}/beta"] = (n,)
        shapes[f"{bn}/moving_mean"] = (n,)
        shapes[f"{bn}/moving_variance"] = (n,)
    tensors = {k: (0.05 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}
    for k in tensors:
        if k.endswith("moving_variance"):
            tensors[k] = np.abs(tensors[k]) + 0.5
        if k.endswith("gamma"):
            tensors[k] = tensors[k] + 1.0
    return tensors


# ------------------------------------------------------------------- front end (no ckpt)


def test_log_mel_shape_and_determinism():
    audio = _audio("piece1")
    a = frontend.log_mel(audio)
    b = frontend.log_mel(audio.copy())
    assert a.dtype == np.float32
    assert a.shape == (1 + len(audio) // frontend.HOP, frontend.N_MELS) == (626, 96)
    assert np.array_equal(a, b)
    assert np.isfinite(a).all()


def test_log_mel_has_float16_cast():
    import librosa

    audio = _audio("piece1")
    mel = librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=frontend.N_FFT, hop_length=frontend.HOP, n_mels=frontend.N_MELS).T
    with_cast = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    without_cast = np.log10(10000 * mel + 1)
    got = frontend.log_mel(audio)
    assert np.array_equal(got, with_cast)
    assert not np.array_equal(got, without_cast)
    # the float16 rounding is visible: relative steps of up to 2**-11 in the mel energies
    assert np.abs(got - without_cast).max() > 1e-5


def test_log_mel_loud_input_does_not_overflow():
    # 10000 * float16 overflows float16 for energies > 6.55; musicnn (numpy 1.x) computed
    # that product in float32, so the result must stay finite for loud audio
    t = np.arange(16000, dtype=np.float32) / 16000
    audio = (0.99 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = frontend.log_mel(audio)
    assert np.isfinite(out).all() and out.max() > np.log10(10000 * 6.6 + 1)


def test_cut_patches_rule():
    spec = np.arange(626 * 96, dtype=np.float32).reshape(626, 96)
    p = frontend.cut_patches(spec)
    assert p.shape == (3, 187, 96)  # (626 - 187) // 187 + 1: remainder (65 frames) dropped
    for i in range(3):
        assert np.array_equal(p[i], spec[187 * i : 187 * (i + 1)])
    assert frontend.cut_patches(spec, 187, 100).shape == (5, 187, 96)
    assert frontend.cut_patches(spec[:187]).shape == (1, 187, 96)
    with pytest.raises(ValueError, match="fewer than one patch"):
        frontend.cut_patches(spec[:186])


def test_constants():
    assert (frontend.SAMPLE_RATE, frontend.N_FFT, frontend.HOP, frontend.N_MELS) == (16000, 512, 256, 96)
    assert frontend.PATCH_FRAMES == 187
    # 3 s of audio at 16 kHz gives 188 frames: one patch
    assert frontend.cut_patches(frontend.log_mel(np.zeros(48000, np.float32))).shape == (1, 187, 96)


# ------------------------------------------------------------------- networks (no ckpt)


@pytest.mark.parametrize("model", MODELS)
def test_labels_in_reference_order(model):
    for piece in PIECES:
        assert list(_reference(piece, model)["tags"]) == list(VARIANTS[model].labels)


@pytest.mark.parametrize("architecture", ["musicnn", "vgg"])
def test_missing_or_misshaped_variable_is_named(architecture):
    tensors = _fake_tensors(architecture)
    name = "conv2d_6/kernel" if architecture == "musicnn" else "3CNN/kernel"
    broken = dict(tensors)
    del broken[name]
    with pytest.raises(ValueError, match=name):
        build_network(architecture, broken)
    broken[name] = tensors[name][:, :, :, :-1]
    with pytest.raises(ValueError, match=name):
        build_network(architecture, broken)
    bn = "batch_normalization_9/moving_variance" if architecture == "musicnn" else "batch_normalization_5/beta"
    broken = dict(tensors)
    broken[bn] = tensors[bn][:-1]
    with pytest.raises(ValueError, match=bn):
        build_network(architecture, broken)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("resnet", tensors)


@pytest.mark.parametrize("architecture", ["musicnn", "vgg"])
def test_batching_eval_and_inference_mode(architecture):
    torch.manual_seed(0)
    net = build_network(architecture, _fake_tensors(architecture))
    assert isinstance(net, Musicnn if architecture == "musicnn" else Vgg)
    x = torch.from_numpy(_patches("piece1"))
    with torch.inference_mode():
        full = net(x)
        single = torch.cat([net(x[i : i + 1]) for i in range(len(x))])
        feats = net.extract(x)
        net.train()  # batch norm stays in inference mode
        after_train = net(x)
    assert full.shape == (3, 50) and full.dtype == torch.float32
    torch.testing.assert_close(full, single, atol=1e-5, rtol=0)
    torch.testing.assert_close(full, after_train, atol=0, rtol=0)
    torch.testing.assert_close(feats["taggram"], full, atol=0, rtol=0)
    if architecture == "musicnn":
        expected = {"timbral": (3, 187, 408), "temporal": (3, 187, 153), "cnn1": (3, 187, 64),
                    "cnn2": (3, 187, 64), "cnn3": (3, 187, 64), "mean_pool": (3, 753),
                    "max_pool": (3, 753), "penultimate": (3, 200)}  # fmt: skip
    else:
        expected = {"pool1": (3, 92, 48, 128), "pool5": (3, 2, 1, 128)}
    for k, shape in expected.items():
        assert tuple(feats[k].shape) == shape, k
    with pytest.raises(ValueError, match="expected patches"):
        net(x[:, :, :95] if architecture == "musicnn" else x[:, :100])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("architecture", ["musicnn", "vgg"])
def test_cuda_matches_cpu(architecture):
    net = build_network(architecture, _fake_tensors(architecture))
    x = torch.from_numpy(_patches("piece1"))
    with torch.inference_mode():
        cpu = net(x)
        gpu = net.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-3, rtol=0)


# -------------------------------------------------------- fidelity (needs checkpoints)


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.parametrize("model", MODELS)
def test_taggram_matches_tensorflow(model, piece):
    net = _network(model)
    ref = _reference(piece, model)
    with torch.inference_mode():
        taggram = net(torch.from_numpy(_patches(piece))).numpy()
    assert taggram.shape == ref["taggram"].shape == (3, 50)
    err = np.abs(taggram - ref["taggram"]).max()
    assert err < TAGGRAM_TOL, f"{model} {piece}: taggram max abs diff {err:.3g}"


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_features_match_tensorflow(model, piece):
    net = _network(model)
    ref = _reference(piece, model)
    with torch.inference_mode():
        out = {k: v.numpy() for k, v in net.extract(torch.from_numpy(_patches(piece))).items()}
    errors = {}
    for name in FEATURES:
        got = out[name]
        if got.ndim == 3:  # (patches, frames, C) -> musicnn's patches stacked in time
            got = got.reshape(-1, got.shape[-1])
        expected = ref[name]
        got = got[: len(expected)]  # cnn1..3, penultimate: only patch 1 is valid in the ref
        assert got.shape == expected.shape, name
        errors[name] = float(np.abs(got - expected).max())
    bad = {k: v for k, v in errors.items() if not v < FEATURE_TOL}
    assert not bad, f"{model} {piece}: feature max abs diffs over {FEATURE_TOL}: {bad} (all: {errors})"


# the real-model fidelity tier: reference numbers of the original models (make test runs it, make check does not)
pytestmark = pytest.mark.slow
