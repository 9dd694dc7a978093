"""A singing voice from Debian's espeak-ng: one word per melody note, at the note's pitch.

Separators and taggers hear a formant speech synthesizer as a voice, unlike the General MIDI
voice patches. Each note's word is spoken monotone (SSML prosody ``range="0"``) at the espeak
pitch value that gives the note's frequency, then trimmed to start on the note's onset and
faded out at its end: the stem is exactly silent between notes.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from typing import Any, Sequence

import numpy as np
import soundfile

from stemlime.plugin import first_use, resample
from stemlime.plugin import StemlimeError, UsageError

DEFAULT_VOICE = "en-us+f3"  # American English, a female variant
WORDS = (
    "love",
    "night",
    "home",
    "light",
    "dream",
    "fire",
    "heart",
    "sky",
    "rain",
    "you",
    "go",
    "day",
    "stay",
    "free",
    "time",
    "sun",
    "run",
    "fly",
    "blue",
    "away",
    "la",
    "oh",
    "shine",
    "road",
)
ESPEAK_PITCHES = np.arange(0, 100, 11)  # espeak's pitch values measured for the frequency table
FADE_SECONDS = 0.03  # fade-out at a note's end: no click where the word is cut
SILENCE = 1e-3  # amplitude below which espeak's output counts as silence when trimming
VIBRATO_HZ = 5.5  # a singer's vibrato: rate in Hz and depth in cents. espeak's monotone speech has
VIBRATO_CENTS = 40.0  # a flat pitch, which separators take for an instrument; vibrato reads as a voice


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise StemlimeError(
            "vocals need espeak-ng, which is not installed: sudo apt-get install espeak-ng "
            "(`make install` does it as root), or render without vocals"
        )
    return path


def speak(text: str, pitch: int, voice: str = DEFAULT_VOICE, words_per_minute: int = 175) -> tuple[np.ndarray, int]:
    """espeak-ng saying ``text`` monotone at espeak pitch value ``pitch`` (0..99): (float32 audio, Hz)."""
    ssml = f'<speak><prosody pitch="{int(pitch)}" range="0">{_escape(text)}</prosody></speak>'
    command = [espeak_binary(), "-m", "-v", voice, "-s", str(int(words_per_minute)), "--stdout", ssml]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0 or len(result.stdout) <= 44:
        message = result.stderr.decode(errors="replace").strip()
        raise UsageError(f"espeak-ng could not speak with voice {voice!r} ({message or 'no audio'}); see `espeak-ng --voices`")
    audio, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    return audio, rate


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@functools.lru_cache(maxsize=8)
def pitch_table(voice: str = DEFAULT_VOICE) -> tuple[np.ndarray, np.ndarray]:
    """(espeak pitch values, their fundamental frequencies in Hz) for ``voice``, measured once per process.

    espeak's pitch scale is neither linear nor documented in Hz and differs between voices, so
    it is measured: a sustained "ah" at each value, its median f0 (YIN).
    """
    import librosa

    frequencies = []
    for value in ESPEAK_PITCHES:
        audio, rate = speak("ah", int(value), voice, words_per_minute=120)
        with first_use("librosa yin"):  # its numba code compiles on first use (render_dataset's pool: one at a time)
            f0 = librosa.yin(audio, fmin=60, fmax=600, sr=rate, frame_length=2048)
        loud = librosa.feature.rms(y=audio, frame_length=2048, hop_length=512)[0] > 0.05 * np.abs(audio).max()
        frequencies.append(float(np.median(f0[: len(loud)][loud[: len(f0)]])))
    return ESPEAK_PITCHES.copy(), np.maximum.accumulate(np.array(frequencies))


def espeak_pitch(frequency: float, voice: str = DEFAULT_VOICE) -> int:
    """The espeak pitch value closest to ``frequency`` (Hz), moved by octaves into the voice's range."""
    values, frequencies = pitch_table(voice)
    low, high = frequencies[0], frequencies[-1]
    while frequency < low and frequency * 2 <= high:
        frequency *= 2
    while frequency > high and frequency / 2 >= low:
        frequency /= 2
    return int(round(np.interp(np.log(frequency), np.log(frequencies), values)))


def _trimmed(audio: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > SILENCE)
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


def vibrato(audio: np.ndarray, sample_rate: int, rate: float = VIBRATO_HZ, cents: float = VIBRATO_CENTS) -> np.ndarray:
    """Periodic pitch modulation by reading ``audio`` at a sinusoidally varying speed (same length)."""
    depth = 2 ** (cents / 1200) - 1
    t = np.arange(len(audio)) / sample_rate
    # the read position is the integral of the speed 1 + depth * sin(2 pi rate t), starting at 0
    position = (t + depth * (1 - np.cos(2 * np.pi * rate * t)) / (2 * np.pi * rate)) * sample_rate
    return np.interp(position, np.arange(len(audio)), audio, right=0.0).astype(np.float32)


def sing(notes: Sequence[Any], words: Sequence[str], sample_rate: int, n_samples: int, voice: str = DEFAULT_VOICE) -> np.ndarray:
    """One word per note (``pretty_midi.Note``: start, end in seconds, pitch, velocity) -> float32 mono.

    The word starts at the note's onset and is cut at its end; a faster speaking rate for
    short notes keeps most of the word inside the note.
    """
    out = np.zeros(n_samples, dtype=np.float32)
    fade = int(FADE_SECONDS * sample_rate)
    for note, word in zip(notes, words):
        start = int(round(note.start * sample_rate))
        end = min(int(round(note.end * sample_rate)), n_samples)
        if end <= start:
            continue
        seconds = note.end - note.start
        rate = int(np.clip(175 * 0.4 / max(seconds, 1e-3), 80, 400))  # ~0.4 s per word at espeak's default 175 wpm
        frequency = 440.0 * 2 ** ((note.pitch - 69) / 12)
        audio, native = speak(word, espeak_pitch(frequency, voice), voice, rate)
        audio = resample(vibrato(_trimmed(audio), native), native, sample_rate)[: end - start]
        envelope = np.ones(len(audio), dtype=np.float32)
        tail = min(fade, len(audio))
        envelope[len(audio) - tail :] = np.linspace(1, 0, tail, dtype=np.float32)
        out[start : start + len(audio)] += audio * envelope * np.float32(note.velocity / 127)
    return out
