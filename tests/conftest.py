"""Shared test helpers: the piece1_16k excerpt (oracle stems) and taggers defined in tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

# No model hub is reachable from the tests: Hugging Face libraries (stemlime-hf, stemlime-demucs)
# answer from local folders and caches at once instead of trying the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _one_ray_worker(request, tmp_path_factory):
    """Under pytest-xdist (make test), every test marked ``ray`` runs on one worker, one after the
    other: one Ray cluster at a time (their ``xdist_group("ray")`` with ``--dist loadgroup``). The
    first such test notes its worker in the run's shared temporary folder; a Ray test on another
    worker fails, naming the cause, instead of two clusters starting side by side."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or request.node.get_closest_marker("ray") is None:
        return
    note = tmp_path_factory.getbasetemp().parent / "ray-tests-worker"
    try:
        with open(note, "x") as handle:
            handle.write(worker)
    except FileExistsError:
        first = note.read_text()
        if first and first != worker:
            pytest.fail(
                f"Ray tests ran on both {first} and {worker}: pytest-xdist did not keep xdist_group('ray') on one worker "
                "(pytest 9.2 ignores pytest-xdist 3.8's groups); install the versions in constraints.txt (make install)"
            )


DATA = Path(__file__).parent / "data"
PIECE = DATA / "piece1_16k"  # the first 4 s of the fixture piece1_16k: five stems and their exact sum
STEMS = ("bass", "drums", "guitar", "piano", "vocals")


class StemPresenceTagger:
    """A tagger whose output is a known function of which stems of PIECE are present.

    It recovers each stem's gain in the input by least squares against the true stems, then
    outputs ``score = bias + sum_k coef_k * gain_k`` for label ``linear`` and the product
    ``gain_vocals * gain_drums`` for label ``both``.
    """

    labels = ["linear", "both"]
    sample_rate = 16000
    input_seconds = None

    def __init__(self, stems: np.ndarray, coefficients: dict[str, float], bias: float = 0.1):
        self.stems = stems  # (K, T) in STEMS order
        self.coefficients = np.array([coefficients.get(s, 0.0) for s in STEMS])
        self.bias = bias
        self.calls = 0
        self.inputs = 0

    def gains(self, batch: np.ndarray) -> np.ndarray:
        solution, *_ = np.linalg.lstsq(self.stems.T.astype(np.float64), batch.T.astype(np.float64), rcond=None)
        return solution.T  # (B, K)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.inputs += len(batch)
        gains = np.round(self.gains(batch), 6)
        linear = self.bias + gains @ self.coefficients
        both = gains[:, STEMS.index("vocals")] * gains[:, STEMS.index("drums")]
        return np.stack([linear, both], axis=1)


def read_stems(start: float = 1.0, duration: float = 3.0) -> np.ndarray:
    rows = []
    for name in STEMS:
        audio, rate = soundfile.read(PIECE / f"{name}.wav", dtype="float32")
        rows.append(audio[int(start * rate) : int((start + duration) * rate)])
    return np.stack(rows)


@pytest.fixture
def presence_tagger() -> StemPresenceTagger:
    return StemPresenceTagger(read_stems(), {"vocals": 0.5, "drums": 0.2, "bass": -0.3})


LOUDNESS_MODULE = """
import numpy as np

class Loudness:
    labels = ["loud"]
    sample_rate = 16000
    input_seconds = None

    def predict(self, batch):
        return np.tanh(10 * np.sqrt((batch ** 2).mean(axis=1, keepdims=True)))

tagger = Loudness()
"""
"""The README's toy model as a module: ``--tagger python,object=mymodel:tagger,path=FOLDER``."""


def write_loudness_module(folder: Path) -> Path:
    """Write ``mymodel.py`` (LOUDNESS_MODULE) into ``folder`` and return the folder."""
    (folder / "mymodel.py").write_text(LOUDNESS_MODULE)
    return folder


def stemlime_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m stemlime ARGS`` as a user runs it: exit status, stdout and stderr captured.

    A new Python process per call (about a second or more): for the contracts of the process
    itself. Message and exit-status cases use the ``cli`` fixture, which runs in this process."""
    return subprocess.run([sys.executable, "-m", "stemlime", *args], capture_output=True, text=True, cwd=cwd)


_STAY = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, Path(__file__).parents[1]})


@pytest.fixture
def cli(monkeypatch, capsys):
    """``stemlime ARGS`` through ``stemlime.cli.main`` in this process, as a CompletedProcess.

    What one run may change is put back after each call: the working folder (``cwd``), the
    import path and modules imported from test folders (``python,object=mymodel:tagger,path=...``
    imports ``mymodel``; another test writes another ``mymodel.py``), the warning filters; the
    environment through ``monkeypatch``. stdout and stderr come from capsys."""
    import importlib
    import os
    import warnings

    from stemlime.cli import main

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        before_path, before_modules, before_dir = list(sys.path), set(sys.modules), os.getcwd()
        capsys.readouterr()  # what the test printed before belongs to no command
        importlib.invalidate_caches()  # a module file the test has just written is found
        try:
            if cwd is not None:
                os.chdir(cwd)
            with warnings.catch_warnings():
                try:
                    status = main(list(args))
                except SystemExit as error:  # a contract break, but reported as the process would
                    status = error.code if isinstance(error.code, int) else 1
        finally:
            os.chdir(before_dir)
            sys.path[:] = before_path
            for name in set(sys.modules) - before_modules:
                origin = getattr(sys.modules[name], "__file__", None)
                if origin and not str(Path(origin).resolve()).startswith(_STAY):
                    del sys.modules[name]
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["stemlime", *args], status, captured.out, captured.err)

    return run
