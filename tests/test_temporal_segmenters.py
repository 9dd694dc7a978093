"""The temporal segmenters (plugin stemlime-temporal) on real audio: piece1_16k and click tracks.

Specification: the windows of every segmenter sum to one at every sample (max error 1e-6 in
float64), so the all-ones mask is the input itself; cuts fall where the music says; bad options
and excerpts without detectable events get one clear message.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from conftest import read_stems
from stemlime import UsageError, get_registry
from stemlime.components import build_components
from stemlime_temporal import SegmentationWarning, crossfade_windows

RATE = 16000


def segment(spec: str, mix: np.ndarray, rate: int = RATE):
    return get_registry().build("segmenter", spec).segment(mix, rate)


def click_track(bpm: float = 120.0, seconds: float = 8.0, first: float = 0.25, rate: int = RATE) -> tuple[np.ndarray, np.ndarray]:
    """Clicks (librosa's 1 kHz decaying click) every beat from ``first`` on; returns (audio, click times)."""
    times = np.arange(first, seconds, 60.0 / bpm)
    audio = librosa.clicks(times=times, sr=rate, length=int(seconds * rate), click_freq=1000.0)
    return audio.astype(np.float32), times


STEMS = read_stems()  # the five true stems of piece1_16k, 1.0-4.0 s
MIX = STEMS.sum(axis=0)
CLICKS, CLICK_TIMES = click_track()

TIME_SPECS = [
    "whole",
    "uniform",
    "uniform,n=4",
    "uniform,n=7,fade=0",
    "uniform,n=3,fade=1.5",  # a fade longer than a segment is shortened to the shortest segment
    "uniform,seconds=0.8",
    "manual,boundaries=0.5;1.2",
    "manual,boundaries=0;0.25;2.9;3",
    "onsets",
    "onsets,min_length=0,fade=0",
    "beats",
    "bars",
    "bars,beats_per_bar=3,downbeat=2,fade=0.02",
]


@pytest.mark.parametrize("audio", ["piece", "clicks"])
@pytest.mark.parametrize("spec", TIME_SPECS)
def test_windows_sum_to_one_and_the_all_ones_mask_is_the_input(spec, audio):
    mix = MIX if audio == "piece" else CLICKS
    segments = segment(spec, mix)
    windows = np.stack([s.window for s in segments]).astype(np.float64)
    assert windows.dtype == np.float64 and segments[0].window.dtype == np.float32
    assert np.abs(windows.sum(axis=0) - 1).max() <= 1e-6
    assert windows.min() >= 0 and windows.max() <= 1 + 1e-7
    assert all(w.max() == pytest.approx(1, abs=1e-6) for w in windows)  # every segment is heard at full gain somewhere
    assert [s.start for s in segments[1:]] == [s.end for s in segments[:-1]]
    assert segments[0].start == 0 and segments[-1].end == pytest.approx(len(mix) / RATE)
    stems = {"a": mix, "b": 0.5 * mix[::-1].copy()}
    _, components = build_components(stems, segments)
    np.testing.assert_allclose(components.astype(np.float64).sum(axis=0), mix + stems["b"], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "spec", ["tf_grid", "tf_grid,n_time=3,n_freq=5,n_fft=512", "tf_grid,scale=mel,n_freq=6", "tf_grid,n_time=1,n_freq=1"]
)
def test_tf_grid_blocks_of_each_stem_sum_to_the_stem(spec):
    segments = segment(spec, MIX)
    components, audio = build_components(dict(zip("abcde", STEMS)), segments)
    per_stem = audio.astype(np.float64).reshape(len(STEMS), len(segments), -1).sum(axis=1)
    assert np.abs(per_stem - STEMS).max() <= 1e-6
    np.testing.assert_allclose(audio.astype(np.float64).sum(axis=0), MIX, atol=1e-6, rtol=0)
    if len(segments) > 1:
        bands = sorted({c.band for c in components})
        assert bands[0][0] == 0 and bands[-1][1] == RATE / 2
        assert all(low < high for low, high in bands)


def test_tf_grid_block_holds_only_its_band_and_time_span():
    """A 440 Hz tone in the first second: only the low band of the first time span carries it."""
    time = np.arange(3 * RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * time) * (time < 1.0)).astype(np.float32)
    segments = segment("tf_grid,n_time=3,n_freq=4", tone)
    energy = {s.name: float(np.sum(s.apply(tone).astype(np.float64) ** 2)) for s in segments}
    assert max(energy, key=energy.get) == "0.00-1.00s_0-2000Hz"
    total = float(np.sum(tone.astype(np.float64) ** 2))
    assert energy["0.00-1.00s_0-2000Hz"] > 0.97 * total
    assert energy["2.00-3.00s_0-2000Hz"] < 1e-12 * total
    assert energy["0.00-1.00s_6000-8000Hz"] < 1e-6 * total  # only the click of the tone's hard stop reaches up there


def test_hard_cuts_are_indicator_windows_and_fades_are_symmetric_raised_cosines():
    hard = crossfade_windows([100, 250], 400, 0)
    np.testing.assert_array_equal(hard[1], (np.arange(400) >= 100) & (np.arange(400) < 250))
    soft = crossfade_windows([100], 400, 20).astype(np.float64)
    ramp = soft[1, 90:110]
    assert np.all(soft[1, :90] == 0) and np.all(soft[1, 110:] == 1)
    assert np.all(np.diff(ramp) > 0)
    np.testing.assert_allclose(ramp + ramp[::-1], 1, atol=1e-7)  # the cut is exactly between samples 99 and 100
    np.testing.assert_allclose(ramp, 0.5 - 0.5 * np.cos(np.pi * (np.arange(20) + 0.5) / 20), atol=1e-7)


def test_uniform_segments_are_named_by_their_time_span_and_nothing_is_dropped():
    names = [s.name for s in segment("uniform,n=4", MIX)]
    assert names == ["0.00-0.75s", "0.75-1.50s", "1.50-2.25s", "2.25-3.00s"]
    seconds = segment("uniform,seconds=0.8", MIX)
    assert [s.name for s in seconds] == ["0.00-0.80s", "0.80-1.60s", "1.60-3.00s"]  # the last takes the remainder
    uneven = segment("uniform,n=7", MIX[:1000])
    lengths = np.diff([0] + [round(s.end * RATE) for s in uneven])
    assert lengths.sum() == 1000 and lengths.max() - lengths.min() <= 1


def test_manual_boundaries_from_a_file_with_a_header_and_comments(tmp_path):
    table = tmp_path / "cuts.csv"
    table.write_text("time\n0.5  # verse\n1.25\n\n2.0\n")
    segments = segment(f"manual,boundaries=@{table},fade=0", MIX)
    assert [s.name for s in segments] == ["0.00-0.50s", "0.50-1.25s", "1.25-2.00s", "2.00-3.00s"]
    assert segments[1].window[int(0.5 * RATE)] == 1 and segments[1].window[int(0.5 * RATE) - 1] == 0


def test_manual_boundaries_as_a_list_in_a_pipeline_table():
    segmenter = get_registry().build("segmenter", {"name": "manual", "boundaries": [0.5, 1.25], "fade": 0})
    assert [s.name for s in segmenter.segment(MIX, RATE)] == ["0.00-0.50s", "0.50-1.25s", "1.25-3.00s"]


def test_bars_of_a_click_track_at_120_bpm_fall_on_the_clicks():
    segments = segment("bars", CLICKS)
    cuts = np.array([s.start for s in segments[1:]])
    assert len(cuts) >= 3
    assert np.abs(cuts[:, None] - CLICK_TIMES[None, :]).min(axis=1).max() <= 0.020
    np.testing.assert_allclose(np.diff(cuts), 2.0, atol=0.020)  # four beats of 0.5 s
    assert [s.name for s in segments] == ["bar0"] + [f"bar{i}" for i in range(1, len(segments))]


def test_beats_of_a_click_track_fall_on_the_clicks_and_read_beat1_beat2():
    segments = segment("beats", CLICKS)
    cuts = np.array([s.start for s in segments[1:]])
    assert len(cuts) >= 12
    assert np.abs(cuts[:, None] - CLICK_TIMES[None, :]).min(axis=1).max() <= 0.020
    np.testing.assert_allclose(np.diff(cuts), 0.5, atol=0.020)
    assert segments[1].name == "beat1" and segments[2].name == "beat2"


def test_onsets_cut_just_before_the_clicks_and_respect_min_length():
    segments = segment("onsets,min_length=0.2", CLICKS)
    cuts = np.array([s.start for s in segments[1:]])
    nearest = CLICK_TIMES[np.abs(cuts[:, None] - CLICK_TIMES[None, :]).argmin(axis=1)]
    assert len(cuts) == len(CLICK_TIMES)  # one cut per click: all lie at least 0.2 s from the ends
    assert np.all(cuts <= nearest + 0.002) and np.all(nearest - cuts <= 0.020)  # before the attack, not after
    merged = segment("onsets,min_length=1.2", CLICKS)
    assert min(s.end - s.start for s in merged) >= 1.2 - 1e-9


@pytest.mark.parametrize(
    "spec, what", [("onsets", "no note onsets were detected"), ("beats", "no beats were detected"), ("bars", "no beats were detected")]
)
def test_an_excerpt_without_events_falls_back_to_one_segment_with_a_warning(spec, what):
    silence = np.zeros(3 * RATE, np.float32)
    with pytest.warns(SegmentationWarning, match=f"{spec}: {what} in the 3.00-s excerpt; using one segment, the whole excerpt"):
        segments = segment(spec, silence)
    assert len(segments) == 1 and np.all(segments[0].window == 1)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("uniform,n=48001", r"n=48001 segments do not fit in the 3.000-s excerpt \(48000 samples at 16000 Hz\)"),
        ("uniform,n=0", "n=0 must be more than 0"),
        ("uniform,n=4,seconds=0.5", "give n .* or seconds .*, not both"),
        ("uniform,seconds=4", "seconds=4 is longer than the 3.000-s excerpt"),
        ("uniform,fade=-0.01", "fade=-0.01 must be 0 or more"),
        ("manual,boundaries=0.5;3.5", "boundary 3.5 s is outside the 3.000-s excerpt"),
        ("manual,boundaries=-0.1;1", "boundary -0.1 s is outside"),
        ("manual,boundaries=1.2;0.5", r"boundaries must increase, but 0.5 s comes after 1.2 s"),
        ("manual,boundaries=1;1", "boundaries must increase"),
        ("manual,boundaries=0.5;one", r"'one' in boundaries='0.5;one' \(line 1\) is not a number"),
        ("manual,boundaries=@/nonexistent/cuts.txt", "boundaries file /nonexistent/cuts.txt does not exist"),
        ("manual", "give boundaries in seconds"),
        ("bars,beats_per_bar=0", "beats_per_bar=0 must be more than 0"),
        ("tf_grid,n_freq=600", "n_freq=600 linear bands do not fit in the 513 frequency bins of n_fft=1024"),
        ("tf_grid,n_time=500", "n_time=500 time blocks do not fit"),
        ("tf_grid,n_fft=1023", "n_fft=1023 must be a multiple of 4"),
    ],
)
def test_bad_options_and_boundaries_get_one_clear_message(spec, message):
    with pytest.raises(UsageError, match=message):
        segment(spec, MIX)


def test_options_are_declared_so_that_typos_and_bad_types_are_caught_before_running():
    registry = get_registry()
    with pytest.raises(UsageError, match=r"option n='four' is not a valid int"):
        registry.resolve("segmenter", "uniform,n=four")
    with pytest.raises(UsageError, match=r"has no option 'min_lenght' \(did you mean 'min_length'\?\)"):
        registry.resolve("segmenter", "onsets,min_lenght=1")
    with pytest.raises(UsageError, match="scale='log' is not one of linear, mel"):
        registry.resolve("segmenter", "tf_grid,scale=log")
    described = {f["name"]: f for f in registry.describe()["segmenters"]}
    assert {"uniform", "manual", "onsets", "beats", "bars", "tf_grid", "whole"} <= set(described)
    assert all(described[name]["package"] == "stemlime-temporal" for name in ("uniform", "bars", "tf_grid"))
    assert {o["name"] for o in described["bars"]["options"]} == {"beats_per_bar", "downbeat", "start_bpm", "fade"}


def test_segments_are_bit_identical_across_runs():
    for spec in ("onsets", "bars", "tf_grid"):
        first, second = segment(spec, MIX), segment(spec, MIX)
        assert [s.name for s in first] == [s.name for s in second]
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a.apply(MIX), b.apply(MIX))


FIRST_USE = """
import sys
import numpy as np
from stemlime_temporal.detection import onset_samples
audio = np.load(sys.argv[1])
print("ready", flush=True)
print(onset_samples(audio, 16000).tolist(), flush=True)
"""


@pytest.mark.slow
def test_a_process_first_detecting_onsets_waits_while_another_does(tmp_path):
    """librosa compiles its numba code on first use and caches it on disk; processes that did that
    at once on a new install crashed (segmentation fault: 4, then 10, of 20 processes started four
    at a time here). So a process's first onset (or beat) detection waits for a machine-wide lock: here
    this test holds it, and a new process that has loaded everything waits until it is let go."""
    import subprocess
    import sys
    import time

    from stemlime.plugin import first_use
    from stemlime_temporal.detection import onset_samples

    audio, _ = click_track(seconds=2.0)
    np.save(tmp_path / "clicks.npy", audio)
    (tmp_path / "first_use.py").write_text(FIRST_USE)
    with first_use("held by the test"):
        process = subprocess.Popen(
            [sys.executable, str(tmp_path / "first_use.py"), str(tmp_path / "clicks.npy")], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout.readline().strip() == "ready"
        time.sleep(2.0)
        assert process.poll() is None, "the first detection waits for the lock"
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0 and out.strip() == str(onset_samples(audio, RATE).tolist())
