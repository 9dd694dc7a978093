"""A MUSDB18-style ``.stem.mp4`` built at test time from piece1_16k's stems with ffmpeg (no binary
MP4 is committed): stream 0 the mixture, then drums, bass, other (guitar + piano), vocals, AAC."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import PIECE

MUSDB_STEMS = {"drums": ("drums",), "bass": ("bass",), "other": ("guitar", "piano"), "vocals": ("vocals",)}


def need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")


def musdb_wavs(folder: Path) -> Path:
    """piece1_16k as a MUSDB18-HQ folder: mixture.wav + drums, bass, other, vocals WAVs; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(PIECE / "mixture.wav", folder / "mixture.wav")
    for name, sources in MUSDB_STEMS.items():
        audio = sum(soundfile.read(PIECE / f"{source}.wav", dtype="float32")[0] for source in sources)
        soundfile.write(folder / f"{name}.wav", np.asarray(audio, dtype=np.float32), 16000, subtype="FLOAT")
    return folder


def make_stem_file(path: Path, streams: int = 5, bitrate: str = "256k") -> Path:
    """A ``.stem.mp4`` at ``path`` with the first ``streams`` of mixture, drums, bass, other, vocals (AAC)."""
    need_ffmpeg()
    wavs = musdb_wavs(path.parent / f".{path.name}-wavs")
    sources = [wavs / "mixture.wav", *(wavs / f"{name}.wav" for name in MUSDB_STEMS)][:streams]
    command = ["ffmpeg", "-v", "error", "-y"]
    for source in sources:
        command += ["-i", str(source)]
    for index in range(len(sources)):
        command += ["-map", f"{index}:a"]
    command += ["-c:a", "aac", "-b:a", bitrate, "-f", "mp4", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    shutil.rmtree(wavs)
    return path
