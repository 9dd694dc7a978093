"""Further training of a Cerberus model with the PSA (mask-inference) loss or with SI-SDR (the
docs' table "Further training of a PSA-trained model"): one process on one thread, validation
SI-SDR every 500 steps.

    python bench/cerberus_loss_experiment.py psa MODEL_DIR DATA_DIR VALIDATION_DIR
    python bench/cerberus_loss_experiment.py sisdr MODEL_DIR DATA_DIR VALIDATION_DIR

MODEL_DIR: a model trained with the PSA loss (``stemlime train cerberus --mask-loss psa``, as the
recipes before 2026-12-06 trained ``cerberus/pno-gtr-bss-drm``); DATA_DIR: the
recipe's pieces (``stemlime render-dataset --count 1920 --seed 0 --duration 10 --sample-rate
16000 --instruments piano,guitar,bass,drums``); VALIDATION_DIR: its validation pieces (the same
with ``--count 8 --seed 500000``). Run the two arms side by side, one core each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    import torch
    from safetensors.numpy import load_file

    from stemlime_cerberus import evaluate, read_tracks
    from stemlime_cerberus.batches import Batches
    from stemlime_cerberus.config import read_config
    from stemlime_cerberus.losses import Objective
    from stemlime_cerberus.network import Cerberus
    from stemlime_cerberus.parallel import gradient
    from stemlime_cerberus.trainer import Settings, learning_rate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("loss", choices=("psa", "sisdr"))
    parser.add_argument("model", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("validation", type=Path)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config, _ = read_config(args.model)
    network = Cerberus(config)
    network.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(str(args.model / "weights.safetensors")).items()})
    tracks = read_tracks([args.data], config.instruments, config.sample_rate)
    validation = read_tracks([args.validation], config.instruments, config.sample_rate)
    batches = Batches(tracks, config, 16, 2 * config.sample_rate, seed=7)
    optimizer = torch.optim.Adam(network.parameters(), lr=args.learning_rate)
    settings = Settings(learning_rate=args.learning_rate)
    started = time.process_time()
    for step in range(args.steps + 1):
        if step % 500 == 0 or step == args.steps:
            medians = evaluate(network, validation, transcription=False).medians()
            scores = ", ".join(f"{name} {m['si_sdr']:.2f} dB" for name, m in medians.items())
            print(f"{args.loss}: step {step}, {time.process_time() - started:.0f} CPU s: {scores}", flush=True)
        if step == args.steps:
            break
        network.train()
        batch = batches.batch(step // batches.steps_per_epoch, step % batches.steps_per_epoch)
        objective = Objective((0.0, 1.0, 0.0), args.loss)  # the trainer's own gradient, without transcription
        gradient(network, config, objective, torch.from_numpy(batch.sources), torch.from_numpy(batch.roll))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, step, args.steps)
        torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
        optimizer.step()


if __name__ == "__main__":
    main()
