"""Registers the temporal segmenters (and SoundLIME's time-frequency grid) with stemlime."""

from __future__ import annotations

from stemlime import Factory, Option, hookimpl

from .segmenters import DEFAULT_FADE, DEFAULT_N, BarSegmenter, BeatSegmenter, ManualSegmenter, OnsetSegmenter, UniformSegmenter
from .tfgrid import SCALES, TimeFrequencyGrid

FADE = Option("fade", "cross-fade at each boundary in seconds (0 = hard cuts)", "float", DEFAULT_FADE)
START_BPM = Option("start_bpm", "tempo the beat tracker starts from, in beats per minute", "float", 120.0)


def _factory(name: str, description: str, cls, options: list[Option]) -> Factory:
    return Factory(name=name, description=description, build=lambda variant, **options: cls(**options), options=options)


@hookimpl
def stemlime_segmenters(register):
    register(_factory(
        "uniform", "Equal time segments: n of them, or seconds each (the last takes the remainder).", UniformSegmenter,
        [Option("n", f"number of equal segments (default {DEFAULT_N} unless seconds is given)", "int", DEFAULT_N),
         Option("seconds", "segment length in seconds, instead of n", "float"), FADE],
    ))
    register(_factory(
        "manual", "Time segments between boundaries you give, in seconds from the excerpt start.", ManualSegmenter,
        [Option("boundaries", "seconds separated by ';' (e.g. 0.5;1.2), or @FILE with one number per line", "str"), FADE],
    ))
    register(_factory(
        "onsets", "Time segments that start just before detected note onsets (librosa).", OnsetSegmenter,
        [Option("min_length", "shortest segment in seconds; closer onsets are merged", "float", 0.5), FADE],
    ))
    register(_factory(
        "beats", "One segment per tracked beat (librosa): beat1, beat2, ... (beat0 = pickup).", BeatSegmenter,
        [START_BPM, FADE],
    ))
    register(_factory(
        "bars", "One segment per bar of tracked beats (librosa): bar1, bar2, ... (bar0 = pickup).", BarSegmenter,
        [Option("beats_per_bar", "beats in one bar", "int", 4),
         Option("downbeat", "which tracked beat starts bar 1 (1 = the first one found)", "int", 1), START_BPM, FADE],
    ))
    register(_factory(
        "tf_grid", "SoundLIME's time-frequency grid: n_time x n_freq STFT blocks, back to audio by inverse STFT.",
        TimeFrequencyGrid,
        [Option("n_time", "number of equal time spans", "int", 4),
         Option("n_freq", "number of frequency bands", "int", 4),
         Option("n_fft", "STFT size in samples (hop n_fft/4)", "int", 1024),
         Option("scale", "band spacing: equal in Hz or equal in mel", "str", "linear", SCALES)],
    ))
