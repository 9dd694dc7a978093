"""Cerberus: a network trained here on rendered pieces separates and transcribes them.

Specified here, on two short pieces that stemlime-render makes in a fixture and a tiny network
trained on them for a few steps: the loss falls and the stems beat the mixture (SI-SDR); the
stems and the rest add up to the mix at any input rate; notes come out per instrument (and as
MIDI files beside the stems); a run interrupted and resumed gives bit for bit the weights of
an uninterrupted one; Slakh2100 folders are read by program class; the recipe builds a model
into the cache through ``stemlime models build``; and every bad input says what is wrong.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import attrs
import numpy as np
import pytest
import soundfile

pytest.importorskip("stemlime_cerberus", reason="stemlime-cerberus is not installed (make install)")
pytest.importorskip("stemlime_render", reason="stemlime-render is not installed (make install)")

from stemlime import ModelFilesError, Pipeline, StemlimeError, UsageError
from stemlime.audio import resample
from stemlime.cli import main
from stemlime.verified_copy import sha256_of
from stemlime_cerberus import CerberusSeparator, read_tracks, si_sdr, train
from stemlime_cerberus.config import CerberusConfig, expected_tensors
from stemlime_cerberus.trainer import Settings
from stemlime_render import render_song

from readme import code_block_after, run_commands, doc

INSTRUMENTS = ("piano", "guitar", "bass", "drums")
RATE = 16000
SEED_PIECES = (11, 12)
# a tiny network: a few seconds of CPU, enough to learn the two pieces
TINY = dict(batch_size=4, chunk_seconds=1.0, hidden=24, layers=2, embedding=4, loss_weights=(0.1, 1.0, 1.0), learning_rate=3e-3)


@pytest.fixture(scope="module")
def pieces(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pieces")
    for seed in SEED_PIECES:
        render_song(seed, 4.0, ",".join(INSTRUMENTS), RATE).save(root / f"piece-{seed}")
    return root


@pytest.fixture(scope="module")
def model(pieces, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "tiny"
    result = train([pieces], out, epochs=10, progress=False, **TINY)
    return out, result


def _piece(pieces: Path, seed: int = SEED_PIECES[0]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    folder = pieces / f"piece-{seed}"
    mix, _ = soundfile.read(folder / "mixture.wav", dtype="float32")
    return mix, {name: soundfile.read(folder / f"{name}.wav", dtype="float32")[0] for name in INSTRUMENTS}


# ----------------------------------------------------------------------------- training and separation


@pytest.mark.slow
def test_a_short_training_lowers_the_loss_and_its_stems_beat_the_mixture(model, pieces):
    folder, result = model
    losses = [epoch["loss"] for epoch in result.history]
    assert losses[-1] < losses[0] - 1  # the loss is in dB (the instruments' negative SI-SDR, their sum's SNR, ...): 1 dB better
    mix, truth = _piece(pieces)
    stems = CerberusSeparator(model_dir=folder).separate(mix, RATE)
    for name in INSTRUMENTS:
        assert si_sdr(stems[name], truth[name]) > si_sdr(mix, truth[name]) + 1.0, name
    config = json.loads((folder / "config.json").read_text())
    assert config["variant"] == "pno-gtr-bss-drm" and config["model"]["hidden"] == 24
    assert config["training"]["data"]["tracks"] == 2 and config["metrics"]["transcription_scored"]
    assert set(config["metrics"]["validation"]["median"]) == set(INSTRUMENTS)
    cpu = [epoch["cpu_seconds"] for epoch in config["training"]["history"]]  # a training curve: quality against CPU time
    assert len(cpu) == 10 and all(0 < a < b for a, b in zip(cpu, cpu[1:]))


def test_stems_and_rest_add_up_to_the_mix_at_any_rate(model, pieces):
    folder, _ = model
    mix, _ = _piece(pieces)
    separator = CerberusSeparator(model_dir=folder)
    assert separator.stems == [*INSTRUMENTS, "rest"] and separator.sample_rate is None
    stereo = np.stack([resample(mix, RATE, 44100), 0.5 * resample(mix, RATE, 44100)], axis=1)
    for audio, rate in [(mix, RATE), (stereo, 44100)]:
        stems = separator.separate(audio, rate)
        assert list(stems) == separator.stems
        mono = audio if audio.ndim == 1 else audio.mean(axis=1)
        assert all(stem.shape == mono.shape and stem.dtype == np.float32 for stem in stems.values())
        total = np.sum([stem.astype(np.float64) for stem in stems.values()], axis=0)
        assert np.abs(total - mono).max() <= 1e-5
    assert list(CerberusSeparator(model_dir=folder, rest=False).separate(mix, RATE)) == list(INSTRUMENTS)


def test_transcription_gives_notes_per_instrument_and_drum_onsets(model, pieces):
    folder, _ = model
    mix, _ = _piece(pieces)
    parts = CerberusSeparator(model_dir=folder).transcribe(mix, RATE)
    assert list(parts) == list(INSTRUMENTS)
    assert parts["drums"].is_drum and not parts["piano"].is_drum
    notes = [note for part in parts.values() for note in part.notes]
    assert notes, "the trained roll holds no note above the threshold"
    assert all(0 <= n.start < n.end <= len(mix) / RATE + 0.2 and 0 <= n.pitch <= 127 for n in notes)


def test_decoding_thresholds_are_chosen_on_validation_by_the_frame_f1_that_mir_eval_measures(model, pieces):
    from stemlime_cerberus.inference import run
    from stemlime_cerberus.metrics import frame_f1
    from stemlime_cerberus.scoring import THRESHOLD_GRID, choose_thresholds, frame_counts
    from stemlime_cerberus.transcription import decode, frames_per_second, part_rows

    folder, _ = model
    separator = CerberusSeparator(model_dir=folder)
    chosen = json.loads((folder / "config.json").read_text())["transcription"]["thresholds"]
    assert list(chosen) == list(INSTRUMENTS) and all(t in THRESHOLD_GRID for t in chosen.values())
    assert separator.thresholds == chosen
    [track, *_] = read_tracks([pieces], INSTRUMENTS)  # the training pieces were the validation pieces here
    assert choose_thresholds(separator.network, read_tracks([pieces], INSTRUMENTS)) == chosen
    roll = run(separator.network, track.mixture()).roll
    times = np.arange(len(roll)) / frames_per_second(separator.network.config)
    for threshold in (0.1, chosen["piano"], 0.5):
        hits, estimated, reference = frame_counts(separator.network.config, roll, track.notes, threshold)["piano"]
        notes = part_rows(decode(separator.network.config, roll, threshold)["piano"])
        assert 2 * hits / (estimated + reference) == pytest.approx(frame_f1(notes, track.notes["piano"], times), abs=1e-12)


def test_decoding_keeps_runs_above_each_instruments_threshold_of_at_least_two_frames():
    from stemlime_cerberus.transcription import column_offset, decode, frames_per_second

    config = CerberusConfig(("piano", "drums"), hidden=8, layers=1)
    roll = np.zeros((50, config.roll_size), np.float32)
    piano, kick = column_offset(config, "piano") + 60 - 21, column_offset(config, "drums")  # C4; the kick's column
    roll[10:20, piano] = 0.3
    roll[30:31, piano] = 0.9  # one frame: too short to be a note
    roll[[5, 6, 25], kick] = [0.2, 0.35, 0.4]
    fps = frames_per_second(config)
    assert decode(config, roll)["piano"].notes == () and decode(config, roll)["drums"].notes == ()  # 0.5 without thresholds
    parts = decode(config, roll, {"piano": 0.25, "drums": 0.3})
    assert [(n.start, n.end, n.pitch) for n in parts["piano"].notes] == [(10 / fps, 20 / fps, 60)]
    assert [(n.start, n.pitch) for n in parts["drums"].notes] == [(6 / fps, 36), (25 / fps, 36)]


def test_a_chunks_target_roll_is_its_slice_of_the_whole_tracks_roll(pieces):
    from stemlime_cerberus.transcription import frame_count, frames_per_second, roll_targets

    config = CerberusConfig(INSTRUMENTS, 16000)
    track = read_tracks([pieces], INSTRUMENTS)[0]
    whole = roll_targets(config, track.notes, 0.0, frame_count(config, track.length))
    assert whole.any(axis=0).sum() > 10  # notes of every instrument are drawn
    for first in (0, 1, 37, 100):  # chunks that start on a frame centre (1 / 62.5 s apart)
        chunk = roll_targets(config, track.notes, first / frames_per_second(config), 40)
        assert np.array_equal(chunk, whole[first : first + 40]), first


def test_batches_draw_each_sources_level_within_gain_db_and_keep_the_pieces_own_level_at_zero():
    from stemlime_cerberus.batches import Batches
    from stemlime_cerberus.data import Track

    config = CerberusConfig(INSTRUMENTS, 16000)
    # stems of constant level, 40 dB apart from track to track: a chunk's level against its stem's is the gain it was given
    level = (1e-4, 1e-2, 1.0)
    tracks = [
        Track(f"t{i}", 16000, {name: np.full(48000, level[i] * (k + 1), np.float32) for k, name in enumerate(INSTRUMENTS)}, None, {})
        for i in range(3)
    ]

    def gains_db(gain_db: float, remix: float) -> np.ndarray:
        sources = Batches(tracks, config, 8, 16000, seed=3, remix=remix, gain_db=gain_db).batch(0, 0).sources[:, :-1]
        assert np.all(sources == sources[..., :1])  # whole chunks of one level
        levels = sources[..., 0]  # (examples, instruments)
        own = np.array([[level[i] * (k + 1) for k in range(len(INSTRUMENTS))] for i in range(3)])  # (tracks, instruments)
        # the track each source was cut from: the one whose level is nearest
        nearest = np.abs(np.log(levels[:, None, :] / own[None])).argmin(axis=1)
        return 20 * np.log10(levels / np.take_along_axis(own, nearest, axis=0))

    for remix in (0.0, 1.0):
        assert np.allclose(gains_db(0.0, remix), 0.0, atol=1e-5)  # the pieces' own levels, what the recipes train on
    drawn = gains_db(6.0, 0.0)
    assert np.all(np.abs(drawn) <= 6.0 + 1e-4) and np.ptp(drawn) > 6  # levels drawn anew within +-6 dB (the default)


def test_the_network_holds_exactly_the_tensors_its_config_declares():
    import torch

    from stemlime_cerberus.network import Cerberus

    for config in [
        CerberusConfig(INSTRUMENTS, hidden=8, layers=2, embedding=3),
        CerberusConfig(("piano", "bass"), hidden=8, layers=1, embedding=0),
        CerberusConfig(INSTRUMENTS, hidden=8, layers=2, embedding=3, trunk="encoded"),
    ]:
        state = Cerberus(config).state_dict()
        found = {name: (tuple(t.shape), "I64" if t.dtype == torch.int64 else "F32") for name, t in state.items()}
        assert found == expected_tensors(config)


@pytest.mark.parametrize(
    "workers, trunk, precision",
    [(1, "blstm", "float32"), (2, "blstm", "float32"), (2, "encoded", "bfloat16")],
    ids=["one process", "two data-parallel processes", "the recipe's: two processes, the encoded trunk (batch norms), bfloat16"],
)
def test_resume_after_an_interruption_gives_the_weights_of_an_uninterrupted_run(pieces, tmp_path, workers, trunk, precision):
    from safetensors.numpy import load_file

    # 4 steps per epoch; seeded dropout between the layers
    settings = dict(TINY, batch_size=2, hidden=16, dropout=0.3, epochs=2, workers=workers, trunk=trunk, precision=precision)
    train([pieces], tmp_path / "whole", progress=False, score_transcription=False, **settings)

    def interrupt(step):
        if step["global_step"] == 5:  # epoch 2, after its second step
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train([pieces], tmp_path / "parts", progress=False, score_transcription=False, on_step=interrupt, **settings)
    saved = json.loads((tmp_path / "parts" / "checkpoint.json").read_text())
    assert saved["position"]["epoch"] == 1 and saved["position"]["step"] == 2
    train([pieces], tmp_path / "parts", progress=False, score_transcription=False, resume=True, **settings)

    for name in ("weights.safetensors", "checkpoint.safetensors"):
        whole, parts = load_file(str(tmp_path / "whole" / name)), load_file(str(tmp_path / "parts" / name))
        assert sorted(whole) == sorted(parts)
        for key in whole:
            assert np.array_equal(whole[key], parts[key]), (name, key)
    history = [json.loads((tmp_path / run / "checkpoint.json").read_text())["history"] for run in ("whole", "parts")]
    untimed = [[{k: v for k, v in epoch.items() if k not in ("cpu_seconds", "wall_seconds")} for epoch in h] for h in history]
    assert untimed[0] == untimed[1]


def test_a_training_helper_process_that_dies_ends_the_run_with_what_to_do(pieces, tmp_path):
    import multiprocessing
    import os
    import signal

    def kill_the_helper(step):
        if step["global_step"] == 4:  # epoch 2: epoch 1's checkpoint is saved
            for child in multiprocessing.active_children():
                if child.name == "stemlime-cerberus-helper":
                    os.kill(child.pid, signal.SIGKILL)

    settings = dict(TINY, batch_size=2, hidden=16, epochs=2, workers=2)
    with pytest.raises(StemlimeError, match=r"helper process ended unexpectedly \(exit code -9.*--resume"):
        train([pieces], tmp_path / "model", progress=False, score_transcription=False, on_step=kill_the_helper, **settings)
    assert not [c for c in multiprocessing.active_children() if c.name == "stemlime-cerberus-helper"]
    assert json.loads((tmp_path / "model" / "checkpoint.json").read_text())["position"]["epoch"] == 1
    train([pieces], tmp_path / "model", progress=False, score_transcription=False, resume=True, **settings)
    assert json.loads((tmp_path / "model" / "checkpoint.json").read_text())["position"]["epoch"] == 2


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _has_cuda(), reason="no CUDA device")
def test_training_on_cuda_draws_batches_ahead_and_gives_the_same_weights_twice(pieces, tmp_path):
    for name in ("first", "second"):
        train([pieces], tmp_path / name, device="cuda", progress=False, score_transcription=False, epochs=3, **TINY)
    assert sha256_of(tmp_path / "first" / "weights.safetensors") == sha256_of(tmp_path / "second" / "weights.safetensors")


def test_data_parallel_training_runs_on_the_cpu_with_a_chunk_of_every_batch_for_every_worker(pieces, tmp_path):
    with pytest.raises(UsageError, match="give --workers 1 there, or --device cpu"):
        train([pieces], tmp_path / "model", device="cuda", workers=2, progress=False, **TINY)
    with pytest.raises(UsageError, match="a batch of 4 chunks cannot be shared by 5 workers .*at most 4 workers"):
        train([pieces], tmp_path / "model", workers=5, progress=False, **TINY)
    with pytest.raises(UsageError, match="--workers"):
        train([pieces], tmp_path / "model", workers=0, progress=False, **TINY)
    assert not (tmp_path / "model").exists()


def test_sigmoid_masks_are_each_a_share_of_the_mix_on_their_own_and_the_model_folder_records_them(pieces, tmp_path):
    import torch

    from stemlime_cerberus.network import Cerberus

    train([pieces], tmp_path / "model", epochs=1, masks="sigmoid", progress=False, score_transcription=False, **TINY)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model"]["masks"] == "sigmoid" and config["training"]["settings"]["masks"] == "sigmoid"
    network = Cerberus(CerberusConfig.from_dict(config["model"]))
    masks = network(torch.rand(1, 20, network.config.bins) + 0.1, heads=("masks",)).masks
    assert masks.min() >= 0 and masks.max() <= 1 and not torch.allclose(masks.sum(-1), torch.ones(1))
    mix, _ = _piece(pieces)
    assert list(CerberusSeparator(model_dir=tmp_path / "model").separate(mix, RATE)) == [*INSTRUMENTS, "rest"]
    older = {k: v for k, v in config["model"].items() if k != "masks"}  # a model folder written before the option
    assert CerberusConfig.from_dict(older).masks == "softmax"
    with pytest.raises(UsageError, match="--masks"):
        train([pieces], tmp_path / "other", masks="relu", progress=False, **TINY)


def test_a_bfloat16_step_runs_the_network_in_bfloat16_and_keeps_the_weights_and_the_loss_in_float32(pieces):
    import torch

    from stemlime_cerberus.losses import Objective
    from stemlime_cerberus.network import Cerberus
    from stemlime_cerberus.parallel import gradient

    config = CerberusConfig(INSTRUMENTS, hidden=32, layers=2, embedding=0, trunk="encoded")
    batch = Settings(instruments=INSTRUMENTS, batch_size=4, chunk_seconds=1.0).batches(read_tracks([pieces], INSTRUMENTS)).batch(0, 0)
    sources, roll = torch.from_numpy(batch.sources), torch.from_numpy(batch.roll)
    torch.manual_seed(0)
    network = Cerberus(config).train()
    found = {}
    for precision in ("float32", "bfloat16"):
        loss, parts = gradient(network, config, Objective((0, 1, 1), "snr"), sources, roll, precision)
        found[precision] = loss, torch.cat([p.grad.reshape(-1) for p in network.parameters()])
        assert loss.dtype == torch.float32 and all(p.dtype == p.grad.dtype == torch.float32 for p in network.parameters())
    (loss32, grad32), (loss16, grad16) = found["float32"], found["bfloat16"]
    assert not torch.equal(grad32, grad16)  # the products really ran in bfloat16 ...
    assert abs(float(loss16 - loss32)) < 0.05 * abs(float(loss32))  # ... with about 3 significant digits
    assert float(torch.nn.functional.cosine_similarity(grad32, grad16, dim=0)) > 0.95
    with pytest.raises(UsageError, match="--precision"):
        Settings(precision="float16").check()


def test_the_encoded_trunk_trains_and_separates_and_the_model_folder_records_it(pieces, tmp_path):
    train([pieces], tmp_path / "model", epochs=1, trunk="encoded", progress=False, score_transcription=False, **TINY)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model"]["trunk"] == "encoded" and config["training"]["settings"]["trunk"] == "encoded"
    mix, _ = _piece(pieces)
    stems = CerberusSeparator(model_dir=tmp_path / "model").separate(mix, RATE)
    assert list(stems) == [*INSTRUMENTS, "rest"]
    assert np.allclose(sum(stems.values()), mix, atol=1e-5)
    older = {k: v for k, v in config["model"].items() if k != "trunk"}  # a model folder written before the option
    assert CerberusConfig.from_dict(older).trunk == "blstm"
    with pytest.raises(UsageError, match="--trunk"):
        train([pieces], tmp_path / "other", trunk="conv", progress=False, **TINY)


def test_the_sisdr_loss_scores_the_instruments_waveforms_and_trains_bit_for_bit_for_one_worker_count(pieces, tmp_path):
    import torch

    from stemlime_cerberus.losses import negative_si_sdr

    references = torch.randn(2, 3, 800)
    assert negative_si_sdr(0.5 * references, references) < -60  # the reference itself, scaled: no distortion at all
    noisy = negative_si_sdr(references + torch.randn(2, 3, 800), references)
    assert abs(float(noisy)) < 3  # noise as loud as the signal: about 0 dB
    silent = torch.zeros(2, 3, 800, requires_grad=True)
    loss = negative_si_sdr(silent, torch.zeros(2, 3, 800))  # no audible reference: nothing to score, no NaN
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(silent.grad).all()

    steps: list[dict] = []
    settings = dict(TINY, epochs=2, workers=2, mask_loss="sisdr", progress=False, score_transcription=False, on_step=steps.append)
    for name in ("first", "second"):
        train([pieces], tmp_path / name, **settings)
    assert sha256_of(tmp_path / "first" / "weights.safetensors") == sha256_of(tmp_path / "second" / "weights.safetensors")
    assert all("si_sdr" in step and "mask_inference" not in step for step in steps)
    with pytest.raises(UsageError, match="--mask-loss"):
        train([pieces], tmp_path / "other", mask_loss="l2", progress=False, **TINY)


def test_instrument_weights_make_the_mask_loss_a_weighted_mean_of_the_instruments_and_are_checked(pieces, tmp_path):
    import torch

    from stemlime_cerberus.losses import mask_inference, negative_si_sdr, negative_si_sdr_and_sum_snr, negative_snr

    references = torch.randn(2, 3, 800)
    estimates = references + torch.randn(2, 3, 800) * torch.tensor([0.3, 1.0, 3.0])[None, :, None]  # three distortions
    per_instrument = [float(negative_snr(estimates[:, [i]], references[:, [i]])) for i in range(3)]
    for loss in (negative_si_sdr, negative_snr, negative_si_sdr_and_sum_snr):
        # equal weights, at any scale, change nothing; only their ratios count
        assert float(loss(estimates, references, torch.tensor([2.0, 2.0, 2.0]))) == pytest.approx(
            float(loss(estimates, references)), abs=1e-4
        )
    # a weight of 0 leaves an instrument out; 1, 3 and 0 give the weighted mean
    assert float(negative_snr(estimates, references, torch.tensor([1.0, 3.0, 0.0]))) == pytest.approx(
        (per_instrument[0] + 3 * per_instrument[1]) / 4, abs=1e-3
    )
    # an instrument that does not play is not scored, whatever its weight; if only weight-0 instruments play, nothing is
    quiet = references.clone()
    quiet[:, 1] = 0
    assert float(negative_snr(estimates, quiet, torch.tensor([1.0, 5.0, 1.0]))) == pytest.approx(
        float(negative_snr(estimates[:, [0, 2]], references[:, [0, 2]])), abs=1e-3
    )
    assert float(negative_snr(estimates, quiet, torch.tensor([0.0, 1.0, 0.0]))) == 0.0
    # the PSA loss: each source's error by its weight
    spectra = torch.randn(2, 3, 5, 7, dtype=torch.complex64)
    masks = torch.rand(2, 5, 7, 3)
    mixture = spectra.sum(dim=1)
    alone = [float(mask_inference(masks[..., [i]], mixture, spectra[:, [i]])) for i in range(3)]
    assert float(mask_inference(masks, mixture, spectra, torch.tensor([1.0, 1.0, 1.0]))) == pytest.approx(
        float(mask_inference(masks, mixture, spectra)), rel=1e-5
    )
    assert float(mask_inference(masks, mixture, spectra, torch.tensor([0.0, 0.0, 1.0]))) == pytest.approx(alone[2], rel=1e-5)

    steps: list[dict] = []
    weighted = dict(TINY, epochs=1, progress=False, score_transcription=False, on_step=steps.append)
    result = train([pieces], tmp_path / "weighted", instrument_weights=(1, 2, 1, 0.5), **weighted)
    recorded = json.loads((result.folder / "config.json").read_text())["training"]["settings"]
    assert recorded["instrument_weights"] == [1.0, 2.0, 1.0, 0.5] and steps
    for bad in ((1, 2), (1, -1, 1, 1), (0, 0, 0, 0), (1, float("nan"), 1, 1)):
        with pytest.raises(UsageError, match="--instrument-weights"):
            train([pieces], tmp_path / "bad", instrument_weights=bad, progress=False, **TINY)


def test_the_snr_loss_makes_a_stem_that_comes_out_too_quiet_cost_what_si_sdr_forgives(pieces, tmp_path):
    import torch

    from stemlime_cerberus.losses import negative_si_sdr, negative_snr

    references = torch.randn(2, 3, 800)
    assert float(negative_si_sdr(0.5 * references, references)) < -60  # scaled: nothing to SI-SDR
    assert float(negative_snr(0.5 * references, references)) == pytest.approx(-10 * np.log10(4), abs=1e-4)  # half: 6.02 dB SNR
    assert float(negative_snr(references, references)) < -60
    loss = negative_snr(torch.zeros(2, 3, 800), torch.zeros(2, 3, 800))  # no audible reference: nothing to score
    assert float(loss) == 0.0

    steps: list[dict] = []
    train([pieces], tmp_path / "model", mask_loss="snr", progress=False, score_transcription=False, on_step=steps.append, **TINY)
    assert steps and all("snr" in step and "si_sdr" not in step for step in steps)


def test_the_default_loss_scores_each_stems_shape_and_makes_the_stems_add_up_to_the_instruments(pieces, tmp_path):
    import torch

    from stemlime_cerberus.losses import SUM_CEILING_DB, negative_si_sdr, negative_si_sdr_and_sum_snr

    references = torch.randn(2, 3, 800)
    # exact stems: SI-SDR near its limit, and the sum's SNR counts only up to the ceiling
    exact = negative_si_sdr_and_sum_snr(references, references) - negative_si_sdr(references, references)
    assert float(exact) == pytest.approx(-SUM_CEILING_DB, abs=0.01)
    # stems at half their level: SI-SDR forgives it, the sum's SNR does not (6.0 dB, its error a quarter of the energy)
    half = negative_si_sdr_and_sum_snr(0.5 * references, references) - negative_si_sdr(0.5 * references, references)
    assert float(half) == pytest.approx(-10 * np.log10(1 / (0.25 + 10 ** (-SUM_CEILING_DB / 10))), abs=1e-3)
    # one stem's share moved to another: the sum is whole, the two stems' shapes are wrong
    moved = references.clone()
    moved[:, 0] += 0.5 * references[:, 1]
    moved[:, 1] *= 0.5
    assert float(negative_si_sdr(moved, references)) > float(negative_si_sdr(references, references)) + 30
    assert float(negative_si_sdr_and_sum_snr(moved, references) - negative_si_sdr(moved, references)) == pytest.approx(
        -SUM_CEILING_DB, abs=0.01
    )
    silent = torch.zeros(2, 3, 800, requires_grad=True)
    loss = negative_si_sdr_and_sum_snr(silent, torch.zeros(2, 3, 800))  # no audible reference: nothing to score
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(silent.grad).all()

    steps: list[dict] = []
    train([pieces], tmp_path / "model", progress=False, score_transcription=False, on_step=steps.append, **TINY)
    assert steps and all("si_sdr_sum" in step and "snr" not in step for step in steps)


def test_the_ideal_masks_bound_what_masking_can_reach_and_the_psm_bounds_them_all(pieces):
    from stemlime_cerberus.scoring import IDEAL_MASKS, ideal_mask_si_sdr

    tracks = read_tracks([pieces], INSTRUMENTS)
    config = CerberusConfig(INSTRUMENTS, RATE)
    scores = {kind: ideal_mask_si_sdr(tracks, config, kind) for kind in IDEAL_MASKS}
    mixture = {name: float(np.median([si_sdr(t.mixture(), t.stems[name]) for t in tracks])) for name in INSTRUMENTS}
    for name in INSTRUMENTS:
        assert all(scores[kind][name] > mixture[name] + 3 for kind in IDEAL_MASKS)  # every oracle separates
        assert scores["psm"][name] == max(scores[kind][name] for kind in IDEAL_MASKS)  # the ceiling of them all
        assert scores["psm-sum"][name] > scores["irm"][name]  # summing to one costs the PSM little
    with pytest.raises(ValueError, match="kind must be one of"):
        ideal_mask_si_sdr(tracks, config, "ibm")


def test_the_gap_to_the_ceiling_comes_with_how_far_other_pieces_could_move_it(pieces):
    from stemlime_cerberus.scoring import gap_interval, ideal_mask_scores

    tracks = read_tracks([pieces], INSTRUMENTS)
    per_piece = ideal_mask_scores(tracks, CerberusConfig(INSTRUMENTS, RATE), "psm")
    assert {name: len(v) for name, v in per_piece.items()} == {name: len(tracks) for name in INSTRUMENTS}  # one per piece, paired

    rng = np.random.default_rng(3)
    ceiling = rng.normal(7.0, 1.5, 60)
    scores = ceiling - 2.0 + rng.normal(0.0, 0.8, 60)  # about 2 dB below, piece by piece
    gap = float(np.median(ceiling) - np.median(scores))
    low, high = gap_interval(scores, ceiling)
    assert low < gap < high and high - low < 1.0
    assert gap_interval(scores, ceiling) == (low, high)  # the same every call
    wider = gap_interval(scores[:15], ceiling[:15])
    assert wider[1] - wider[0] > high - low  # fewer pieces, less certain
    assert gap_interval(ceiling - 2.0, ceiling) == pytest.approx((2.0, 2.0))  # every piece 2 dB short: no doubt
    assert gap_interval([1.0, float("nan")], [3.0, 5.0]) == (2.0, 2.0)  # a piece without a finite score counts for neither
    with pytest.raises(ValueError, match="at least one piece"):
        gap_interval([float("nan")], [1.0])
    with pytest.raises(ValueError):
        gap_interval([1.0, 2.0], [1.0])  # unpaired lists


def test_an_evaluation_reports_how_loud_the_rest_is_against_the_mixture(pieces, tmp_path):
    from stemlime_cerberus import evaluate
    from stemlime_cerberus.inference import run

    train([pieces], tmp_path / "model", epochs=1, progress=False, score_transcription=False, **TINY)
    network = CerberusSeparator(model_dir=tmp_path / "model").network
    tracks = read_tracks([pieces], INSTRUMENTS)
    evaluation = evaluate(network, tracks, transcription=False)
    mixture = tracks[0].mixture()
    rest = run(network, mixture, roll=False).estimates["rest"]
    assert len(evaluation.rest_db) == len(tracks)
    assert evaluation.rest_db[0] == pytest.approx(10 * np.log10(np.sum(rest**2) / np.sum(mixture**2)), abs=1e-3)
    assert evaluation.to_dict()["rest_db_median"] == pytest.approx(float(np.median(evaluation.rest_db)))


# ----------------------------------------------------------------------------- data


def _write_slakh_track(folder: Path) -> dict[str, np.ndarray]:
    """A Slakh2100-layout track at 44.1 kHz: piano, bass, drums, strings (to the rest) and an unrendered stem."""
    import pretty_midi
    import yaml

    rate, seconds = 44100, 2.0
    t = np.arange(int(rate * seconds)) / rate
    audio = {
        "S00": 0.2 * np.sin(2 * np.pi * 440 * t),
        "S01": 0.2 * np.sin(2 * np.pi * 55 * t),
        "S02": 0.2 * (np.random.default_rng(0).random(len(t)) - 0.5) * (t % 0.5 < 0.05),
        "S03": 0.1 * np.sin(2 * np.pi * 660 * t),
    }
    programs = {
        "S00": (0, False, "Piano"),
        "S01": (33, False, "Bass"),
        "S02": (0, True, "Drums"),
        "S03": (48, False, "Strings"),
        "S04": (26, False, "Guitar"),
    }
    (folder / "stems").mkdir(parents=True)
    (folder / "MIDI").mkdir()
    for stem, samples in audio.items():
        soundfile.write(folder / "stems" / f"{stem}.flac", samples.astype(np.float32), rate)
    for stem, (program, is_drum, _) in programs.items():
        midi = pretty_midi.PrettyMIDI()
        track = pretty_midi.Instrument(program, is_drum=is_drum)
        track.notes.append(pretty_midi.Note(100, 36 if is_drum else 69, 0.5, 1.5))
        midi.instruments.append(track)
        midi.write(str(folder / "MIDI" / f"{stem}.mid"))
    stems = {
        stem: {"inst_class": name, "program_num": program, "is_drum": is_drum, "audio_rendered": stem != "S04", "midi_program_name": name}
        for stem, (program, is_drum, name) in programs.items()
    }
    (folder / "metadata.yaml").write_text(yaml.safe_dump({"audio_dir": "stems", "midi_dir": "MIDI", "stems": stems}))
    soundfile.write(folder / "mix.flac", sum(audio.values()).astype(np.float32), rate)
    return audio


def test_the_slakh_reader_classes_stems_by_program_and_reads_their_midi(tmp_path):
    audio = _write_slakh_track(tmp_path / "slakh" / "train" / "Track00001")
    with pytest.raises(UsageError, match="no track in .* has guitar"):  # S04 is a guitar that was never rendered
        read_tracks([tmp_path / "slakh"], INSTRUMENTS)
    [track] = read_tracks([tmp_path / "slakh" / "train"], ("piano", "bass", "drums"))
    assert track.name == "Track00001" and track.sample_rate == RATE and track.length == 2 * RATE
    assert list(track.stems) == ["piano", "bass", "drums"]
    np.testing.assert_allclose(track.stems["piano"], resample(audio["S00"].astype(np.float32), 44100, RATE), atol=1e-4)  # 16-bit FLAC
    np.testing.assert_allclose(track.rest, resample(audio["S03"].astype(np.float32), 44100, RATE), atol=1e-4)  # strings
    assert track.notes["piano"].tolist() == [[0.5, 1.5, 69.0]] and track.notes["drums"].tolist() == [[0.5, 1.5, 36.0]]
    result = train(
        [tmp_path / "slakh"],
        tmp_path / "model",
        instruments="piano,bass,drums",
        epochs=1,
        progress=False,
        score_transcription=False,
        **dict(TINY, hidden=8, layers=1),
    )
    assert result.history[0]["validation"]["piano"]["si_sdr"] is not None


def test_unreadable_or_unsuitable_data_is_refused_with_what_to_do(pieces, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    for folder, message in [
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path / "file.txt", "is not a folder"),
        (tmp_path / "empty", "holds no tracks"),
    ]:
        with pytest.raises(UsageError, match=message):
            train([folder], tmp_path / "out", progress=False, **TINY)
    with pytest.raises(UsageError, match="no track in .* has strings"):
        train([pieces], tmp_path / "out", instruments="piano,strings", progress=False, **TINY)
    broken = tmp_path / "broken" / "piece-0"
    shutil.copytree(pieces / "piece-11", broken)
    (broken / "metadata.json").write_text("{not json")
    with pytest.raises(StemlimeError, match="metadata.json is unreadable"):
        read_tracks([broken.parent], INSTRUMENTS)
    with pytest.raises(UsageError, match="unknown instrument 'flute'"):
        train([pieces], tmp_path / "out", instruments="piano,flute", progress=False)


def test_the_output_folder_is_never_mixed_with_other_files_or_another_run(pieces, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="did not write"):
        train([pieces], tmp_path / "taken", progress=False, **TINY)
    with pytest.raises(UsageError, match="nothing to resume"):
        train([pieces], tmp_path / "new", resume=True, progress=False, **TINY)
    with pytest.raises(UsageError, match="overlap"):
        train([pieces], pieces / "model", progress=False, **TINY)


def test_a_data_folder_given_twice_or_inside_another_is_refused(pieces, tmp_path):
    with pytest.raises(UsageError, match="given twice"):
        train([pieces, pieces], tmp_path / "out", progress=False, **TINY)
    with pytest.raises(UsageError, match="overlap"):
        train([pieces, pieces / "piece-11"], tmp_path / "out", progress=False, **TINY)
    assert not (tmp_path / "out").exists()


def test_a_second_run_into_a_folder_that_is_being_trained_is_refused_and_changes_nothing(pieces, tmp_path):
    out = tmp_path / "out"
    seen = []

    def meanwhile(step):  # while the first run trains, a second one with --force asks for the same folder
        if step["global_step"] == 0:
            with pytest.raises(UsageError, match="another run is writing"):
                train([pieces], out, force=True, progress=False, epochs=1, **TINY)
            seen.append(sorted(p.name for p in out.iterdir()))

    train([pieces], out, epochs=1, progress=False, on_step=meanwhile, **TINY)
    assert seen == [[".stemlime-lock"]]
    assert not (out / ".stemlime-lock").exists() and (out / "weights.safetensors").is_file()


def test_validating_on_the_training_tracks_is_said_on_the_console(pieces, tmp_path, capsys):
    train([pieces], tmp_path / "out", epochs=1, progress=False, **TINY)
    assert "validated on its own training tracks" in capsys.readouterr().err
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert "the training tracks" in config["training"]["validation"]["what"]


# ----------------------------------------------------------------------------- model folders


@pytest.fixture
def model_copy(model, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(model[0], copy)
    return copy


def test_a_damaged_model_folder_says_what_is_wrong(model_copy, tmp_path):
    with pytest.raises(ModelFilesError, match="does not exist"):
        CerberusSeparator(model_dir=tmp_path / "nowhere")
    weights = model_copy / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x5A
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFilesError, match="damaged"):
        CerberusSeparator(model_dir=model_copy).network
    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text("{")
    with pytest.raises(ModelFilesError, match="unreadable config.json"):
        CerberusSeparator(model_dir=model_copy)
    config["model"]["hidden"] = 32
    config["weights_sha256"] = sha256_of(weights)
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFilesError, match="do not fit"):
        CerberusSeparator(model_dir=model_copy).network
    (model_copy / "weights.safetensors").unlink()
    with pytest.raises(ModelFilesError, match="lacks weights.safetensors"):
        CerberusSeparator(model_dir=model_copy)


def test_a_model_of_another_instrument_set_is_refused(model):
    with pytest.raises(UsageError, match="separates piano, guitar, bass, drums .* not piano, guitar"):
        Pipeline(tagger=None, separator=f"cerberus:pno-gtr,model_dir={model[0]}").separator.network


# ----------------------------------------------------------------------------- the recipe and the command line


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty model cache with musicnn's files linked in (for explain)."""
    from model_support import musicnn_folder

    musicnn = musicnn_folder("MSD_musicnn").parent
    home = tmp_path / "home"
    home.mkdir()
    (home / "musicnn").symlink_to(musicnn, target_is_directory=True)
    monkeypatch.setenv("STEMLIME_HOME", str(home))
    monkeypatch.setenv("STEMLIME_CACHE_DIR", str(tmp_path / "stem-cache"))
    return home


def test_without_a_built_model_the_separator_says_how_to_build_it(home, pieces, capsys):
    with pytest.raises(ModelFilesError, match="stemlime models build cerberus/pno-gtr-bss-drm"):
        Pipeline(tagger=None, separator="cerberus").separate(pieces / "piece-11" / "mixture.wav")
    assert main(["models", "fetch", "cerberus/pno-gtr-bss-drm"]) == 2
    assert "stemlime models build cerberus/pno-gtr-bss-drm" in capsys.readouterr().err


def test_the_recipe_builds_the_default_model_and_the_readme_commands_run_with_it(home, pieces, tmp_path, monkeypatch, capsys):
    from stemlime_cerberus import recipe

    tiny = recipe.Plan(
        INSTRUMENTS,
        pieces=1,
        validation_pieces=1,
        seconds=3.0,
        settings=Settings(instruments=INSTRUMENTS, epochs=2, workers=2, precision="bfloat16", **dict(TINY, hidden=8, layers=1)),
    )
    monkeypatch.setitem(recipe.PLANS, "pno-gtr-bss-drm", tiny)  # the real recipe, scaled down
    assert main(["models", "build", "cerberus/pno-gtr-bss-drm", "--device", "cpu"]) == 0
    folder = home / "cerberus" / "pno-gtr-bss-drm"
    assert "built in" in capsys.readouterr().out and (folder / "weights.safetensors").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config["recipe"]["pieces"] == 1 and config["recipe"]["validation_seeds"][0] == recipe.VALIDATION_SEED
    assert config["training"]["settings"]["workers"] == 2  # the recipe trains on both cores
    assert config["training"]["settings"]["precision"] == tiny.settings_on("cpu").precision  # bfloat16 where the CPU computes it
    assert config["training"]["steps_per_epoch"] == tiny.steps_per_epoch  # the plan counts its steps as the trainer does
    assert not (home / ".build" / "cerberus" / "pno-gtr-bss-drm").exists()  # the work folder goes once installed
    assert main(["models", "build", "cerberus/pno-gtr-bss-drm"]) == 0 and "built before" in capsys.readouterr().out

    shutil.copy(pieces / "piece-11" / "mixture.wav", tmp_path / "song.wav")
    # models build and separate in this process; explain as a user runs it (a new process: the one real CLI run here)
    run_commands(code_block_after("### cerberus", "bash", readme=doc("how-to/cerberus.md")), tmp_path, in_process=("models", "separate"))
    written = json.loads((tmp_path / "stems" / "stems.json").read_text())
    assert written["midi"] == {name: f"{name}.mid" for name in INSTRUMENTS}
    import pretty_midi

    assert pretty_midi.PrettyMIDI(str(tmp_path / "stems" / "drums.mid")).instruments[0].is_drum
    explanation = json.loads((tmp_path / "out" / "explanation.json").read_text())
    assert [c["stem"] for c in explanation["components"]] == [*INSTRUMENTS, "rest"]


def test_a_build_that_trains_on_a_gpu_takes_the_gpu_plan_the_papers_network_on_more_data():
    from stemlime_cerberus import recipe

    cpu, gpu = recipe.plan_for("pno-gtr-bss-drm", "cpu"), recipe.plan_for("pno-gtr-bss-drm", "cuda")
    assert (cpu.kind, cpu.settings.layers, cpu.settings.hidden, cpu.settings.trunk, cpu.settings.workers) == ("cpu", 2, 192, "encoded", 2)
    assert (gpu.kind, gpu.settings.layers, gpu.settings.hidden, gpu.settings.trunk, gpu.settings.workers) == ("gpu", 4, 300, "blstm", 1)
    assert (cpu.steps_per_epoch, gpu.steps_per_epoch) == (600, 625)  # 1,920 x 5 chunks / 16 and 4,000 x 5 / 32
    steps = {plan.kind: plan.steps_per_epoch * plan.settings.epochs for plan in (cpu, gpu)}
    assert gpu.pieces > cpu.pieces and steps["gpu"] > steps["cpu"] and gpu.instruments == cpu.instruments
    assert gpu.to_dict()["sized_for"] == "gpu" and gpu.to_dict()["seeds"] == [0, gpu.pieces - 1]
    # the rendered pieces draw each part's level: neither plan adds random gains on top (the trainer's default does),
    # and neither remixes parts of different pieces (each example is one piece, as the separator meets it)
    assert cpu.settings.gain_db == gpu.settings.gain_db == 0 < Settings().gain_db
    assert cpu.settings.remix == gpu.settings.remix == 0 < Settings().remix
    # the CPU plan spends more of its steps on the instruments its network separates furthest from the ceiling
    assert (
        cpu.settings.instrument_weights == (1.25, 1.5, 1.0, 0.5) and gpu.settings.instrument_weights == Settings().instrument_weights == ()
    )
    assert recipe.plan_for("pno-gtr", "cpu").settings.instrument_weights == (1.25, 1.5)
    import torch

    assert recipe.plan_for("pno-gtr", "auto") is (recipe.GPU_PLANS if torch.cuda.is_available() else recipe.PLANS)["pno-gtr"]


def test_the_cpu_recipe_trains_in_bfloat16_where_the_cpu_computes_it_and_in_float32_where_it_would_emulate_it(monkeypatch):
    from stemlime_cerberus import recipe, trainer

    cpu, gpu = recipe.plan_for("pno-gtr-bss-drm", "cpu"), recipe.plan_for("pno-gtr-bss-drm", "cuda")
    assert (cpu.settings.precision, gpu.settings.precision) == ("bfloat16", "float32")
    here = trainer.computes_bfloat16("cpu")  # this machine's answer, from torch
    assert cpu.settings_on("cpu").precision == ("bfloat16" if here else "float32")
    # a CPU without bfloat16 arithmetic (not this machine's kind, so its probe's answer is replaced)
    monkeypatch.setattr(recipe, "computes_bfloat16", lambda device: False)
    assert cpu.settings_on("cpu") == attrs.evolve(cpu.settings, precision="float32", epochs=recipe.FLOAT32_EPOCHS)
    assert recipe.FLOAT32_EPOCHS < cpu.settings.epochs  # float32 steps cost more: fewer fit the build's time
    assert gpu.settings_on("cuda") is gpu.settings


class _Stop(Exception):
    """What the test's ``on_step`` raises to interrupt a build (as Ctrl-C would)."""


def test_an_unfinished_build_resumes_its_training_and_one_another_recipe_left_starts_over(tmp_path, capsys):
    from stemlime_cerberus import recipe

    def plan(validation_pieces: int) -> recipe.Plan:
        settings = Settings(instruments=INSTRUMENTS, epochs=2, **dict(TINY, hidden=8, layers=1))
        return recipe.Plan(INSTRUMENTS, pieces=1, validation_pieces=validation_pieces, seconds=3.0, settings=settings)

    def stop(step):
        raise _Stop

    def build(the_plan: recipe.Plan, work: Path) -> list[int]:
        """Build into a new folder; the global steps the training took in this attempt."""
        steps: list[int] = []
        folder = tmp_path / f"model-{len(list(tmp_path.glob('model-*')))}"
        folder.mkdir()
        recipe.build(the_plan, folder, work, device="cpu", progress=False, on_step=lambda step: steps.append(step["global_step"]))
        assert json.loads((folder / "config.json").read_text())["recipe"] == the_plan.to_dict()
        return steps

    def interrupted(the_plan: recipe.Plan, work: Path) -> None:
        with pytest.raises(_Stop):
            recipe.build(the_plan, tmp_path, work, device="cpu", progress=False, on_step=stop)
        assert (work / "cpu" / "model" / "checkpoint.json").is_file()
        capsys.readouterr()

    # the same recipe again: its training continues after the step it stopped at (one step an epoch here)
    interrupted(plan(1), tmp_path / "same")
    assert build(plan(1), tmp_path / "same") == [1] and "another recipe" not in capsys.readouterr().err
    # a recipe that changed meanwhile (here: more validation pieces) keeps the pieces and trains from the start
    interrupted(plan(1), tmp_path / "changed")
    assert build(plan(2), tmp_path / "changed") == [0, 1]
    assert "another recipe (an earlier stemlime?): its pieces are kept, its training starts over" in capsys.readouterr().err
    assert len(list((tmp_path / "changed" / "cpu" / "validation").glob("piece-*"))) == 2
    # work that an older stemlime left (no record of its plan): all of it starts over
    interrupted(plan(1), tmp_path / "older")
    (tmp_path / "older" / "cpu" / recipe.PLAN_RECORD).unlink()
    assert (
        build(plan(1), tmp_path / "older") == [0, 1] and "another recipe (an earlier stemlime?): it starts over" in capsys.readouterr().err
    )


def test_the_readme_training_commands_run(tmp_path, pieces):
    shutil.copy(pieces / "piece-11" / "mixture.wav", tmp_path / "song.wav")
    run_commands(
        code_block_after("### cerberus", "bash", nth=1, readme=doc("how-to/cerberus.md")),
        tmp_path,
        in_process=("render-dataset", "train", "separate"),
    )
    assert json.loads((tmp_path / "my-model" / "config.json").read_text())["variant"] == "pno-bss"
    assert sorted(p.name for p in (tmp_path / "my-stems").glob("*.wav")) == ["bass.wav", "piano.wav", "rest.wav"]


def test_bad_command_lines_exit_2_with_one_line(pieces, tmp_path, capsys):
    out = str(tmp_path / "model")
    assert main(["train", "cerberus", "--data", str(pieces), "--out", out, "--loss-weights", "1,2"]) == 2
    assert "--loss-weights takes three numbers" in capsys.readouterr().err
    assert main(["train", "cerberus", "--data", str(pieces), "--out", out, "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as parsed:  # argparse's own refusal
        main(["train", "cerberus", "--data", str(pieces), "--out", out, "--mask-loss", "l2"])
    assert parsed.value.code == 2 and "--mask-loss: invalid choice: 'l2'" in capsys.readouterr().err
    assert main(["train", "cerberus", "--data", str(pieces), "--out", out, "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    song = pieces / "piece-11" / "mixture.wav"
    assert main(["separate", str(song), "--separator", "oracle", "--midi", "--out", str(tmp_path / "stems")]) == 2
    assert "does not transcribe" in capsys.readouterr().err and not (tmp_path / "stems").exists()
