"""Native Instruments stem files (``*.stem.mp4``, as MUSDB18 ships): read with ffmpeg.

A stem file is one MP4 with several AAC audio streams: stream 0 the mixture, then the stems.
MUSDB18's order is mixture, drums, bass, other, vocals (:data:`MUSDB18_STEMS`). Decoding runs
the ``ffmpeg`` and ``ffprobe`` programs (Debian package ``ffmpeg``) in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import attrs
import numpy as np

from .errors import AudioError

STEM_SUFFIX = ".stem.mp4"
MUSDB18_STEMS = ("drums", "bass", "other", "vocals")  # streams 1-4; stream 0 is the mixture
INSTALL_HINT = "install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"


def is_stem_file(path: str | Path) -> bool:
    """Whether ``path`` is named like a stem file (``NAME.stem.mp4``, any case)."""
    return Path(path).name.lower().endswith(STEM_SUFFIX)


def stem_file_name(path: str | Path) -> str:
    """The track's name: the file name without ``.stem.mp4``."""
    name = Path(path).name
    return name[: -len(STEM_SUFFIX)]


@attrs.frozen
class StemFileInfo:
    """What ``ffprobe`` says of a stem file: ``sample_rate`` in Hz, ``channels`` of stream 0,
    ``duration`` in seconds and the number of audio ``streams``."""

    sample_rate: int
    channels: int
    duration: float
    streams: int


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AudioError(f"reading .stem.mp4 files needs the '{name}' program, which is not on PATH: {INSTALL_HINT}")
    return found


def probe(path: str | Path) -> StemFileInfo:
    """The audio streams of a stem file (see :class:`StemFileInfo`)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {path} does not exist")
    command = [
        _program("ffprobe"),
        "-v",
        "error",
        "-select_streams",
        "a",
        "-show_entries",
        "stream=sample_rate,channels,duration:format=duration",
        "-of",
        "json",
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"ffprobe exit status {result.returncode}"
        raise AudioError(f"cannot read {path} as a stem file ({detail}); is it a complete .stem.mp4 (MP4 with AAC streams)?")
    try:
        data = json.loads(result.stdout)
        streams = data.get("streams", [])
        if not streams:
            raise AudioError(f"{path} holds no audio stream; a .stem.mp4 holds the mixture and its stems as AAC streams")
        first = streams[0]
        duration = float(first.get("duration") or data.get("format", {}).get("duration"))
        return StemFileInfo(int(first["sample_rate"]), int(first["channels"]), duration, len(streams))
    except (ValueError, KeyError, TypeError) as error:
        raise AudioError(f"cannot read the streams of {path} ({error!r}); is it a complete .stem.mp4?") from None


def decode(
    path: str | Path, stream: int = 0, start: float = 0.0, duration: float | None = None, sample_rate: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode audio stream ``stream`` (0: the mixture) of a stem file.

    ``start`` and ``duration`` in seconds (None: to the end). Returns ``(audio, rate)``: float32
    ``(samples, channels)`` at the file's rate in Hz (or ``sample_rate``, resampled by ffmpeg).
    """
    path = Path(path)
    info = probe(path)
    if not 0 <= stream < info.streams:
        raise AudioError(f"{path} has {info.streams} audio streams (0-{info.streams - 1}); there is no stream {stream}")
    rate = int(sample_rate or info.sample_rate)
    command = [_program("ffmpeg"), "-v", "error", "-nostdin", "-i", str(path)]
    if start:
        command += ["-ss", f"{start:.6f}"]
    if duration is not None:
        command += ["-t", f"{duration:.6f}"]
    command += ["-map", f"0:a:{stream}", "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(info.channels), "-ar", str(rate), "-"]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(f"cannot decode stream {stream} of {path} ({detail[-1] if detail else 'ffmpeg failed'})")
    audio = np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)
    return audio.reshape(-1, info.channels), rate
