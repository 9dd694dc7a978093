"""The stemgram: exact Shapley values of each stem over a whole song, frame by frame (issue #26).

    gram = stemlime.stemgram(pipeline, "song.wav", labels=["female vocalists"])
    print(gram.summary())        # frames, where the label peaks, which stems drive it, interactions
    gram.save("stemgram-out/")   # stemgram.json, stemgram.png, the song and its stems, index.html

The song is separated once (the pipeline's stem cache, as a scan does) and cut into the
tagger's input windows on the taggram's grid. All 2^K stem masks of every frame run through
the explanation engine (``Pipeline.engine``), many frames per engine so that the tagger gets
large batches (and a tagger on an accelerator mixes them there: :func:`frame_blocks`). That
gives the exact Shapley value of each stem for each label, f(all on), f(all off) and the
pairwise Shapley interaction indices (:mod:`stemlime.shapley`). A function taking a pipeline, like
:func:`stemlime.scan` (the pipeline knows nothing of stemgrams).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import attrs
import numpy as np

from . import audio as audio_io
from .engine import check_batch_size, empty_value
from .fs import ResultFolder, check_destination
from .labels import label_indices
from .records import StemgramRecord, write_stemgram
from .shapley import all_masks, interaction_indices, notable_interactions, shapley_values, together_sentence
from .stemcache import StemCache
from .surrogates.shapley import shapley_masks
from .validators import whole_number

if TYPE_CHECKING:
    from .pipeline import Pipeline

MOST_STEMS = 8  # 2^8 = 256 masks a frame; with more stems each frame gets kernel SHAP's sampled masks
METHOD = "exact: all 2^K stem masks per frame"
SAMPLED_MASKS = 512  # masks per frame drawn for kernel SHAP when there are more than MOST_STEMS stems
MASKS_PER_ENGINE = 2048  # the stem masks of several frames go through one engine together ...
COLUMNS_PER_ENGINE = 256  # ... with at most this many block components (frames x (stems + 1))
DPI = 150


@attrs.frozen(eq=False)
class Stemgram:
    """Per taggram frame, the Shapley value of each stem for each label: exact from all 2^K stem
    masks (K <= 8), else kernel SHAP's estimate from sampled masks (``method`` says which).

    ``games[label]`` is (frames x masks): the tagger's output for every stem mask of every frame.
    Exact: the columns are all 2^K masks (bit i of the column: stem i on) and ``masks`` is None;
    sampled: ``masks`` (masks x K) says which stems each column switched on. Everything else
    follows from it."""

    audio_path: str | None
    labels: list[str]
    stems: list[str]
    hop_seconds: float
    window_seconds: float
    games: dict[str, np.ndarray]
    pipeline: dict[str, str]
    sample_rate: int
    stem_audio: dict[str, np.ndarray] = attrs.field(repr=False)  # the song's stems at sample_rate
    tagger_runs: int = 0
    masks: np.ndarray | None = attrs.field(default=None, repr=False)  # sampled masks (more than MOST_STEMS stems)
    _memo: dict[tuple[str, str], np.ndarray] = attrs.field(factory=dict, init=False, repr=False)  # values per label, once

    def _once(self, kind: str, label: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()``, kept (read-only) for the next call with this kind and label: the games
        are fixed, and kernel SHAP's fit per frame is the slow part of a stemgram's page."""
        if (kind, label) not in self._memo:
            value = compute()
            value.flags.writeable = False
            self._memo[(kind, label)] = value
        return self._memo[(kind, label)]

    @property
    def exact(self) -> bool:
        """Whether every frame's values come from all 2^K stem masks (else: kernel SHAP's estimate)."""
        return self.masks is None

    @property
    def method(self) -> str:
        if self.exact:
            return METHOD
        return (
            f"kernel SHAP estimate: {len(self.masks)} sampled stem masks per frame (more than {MOST_STEMS} stems; "  # type: ignore[arg-type]
            "no interactions)"
        )

    @property
    def n_frames(self) -> int:
        return len(next(iter(self.games.values())))

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.hop_seconds

    def values(self, label: str) -> np.ndarray:
        """(frames x stems) Shapley values: exact, or kernel SHAP's estimate (which keeps efficiency);
        computed once per label (read-only)."""
        return self._once("values", label, lambda: self._values(label))

    def _values(self, label: str) -> np.ndarray:
        if self.masks is None:
            return np.moveaxis(shapley_values(self.games[label].T, len(self.stems)), 0, -1)
        from .surrogates.shapley import shapley_values as kernel_shap

        return np.array([kernel_shap(self.masks, outputs)[0] for outputs in self.games[label]]).reshape(-1, len(self.stems))

    def interactions(self, label: str) -> np.ndarray:
        """(frames x stems x stems) pairwise Shapley interaction indices (NaN when sampled); computed
        once per label (read-only)."""
        return self._once("interactions", label, lambda: self._interactions(label))

    def _interactions(self, label: str) -> np.ndarray:
        if self.masks is None:
            return np.moveaxis(interaction_indices(self.games[label].T, len(self.stems)), -1, 0)
        return np.full((self.n_frames, len(self.stems), len(self.stems)), np.nan)

    def _column(self, on: int) -> int:
        """The column of the all-on (``on=1``) or all-off (``on=0``) mask in ``games``."""
        if self.masks is None:
            return -1 if on else 0
        return int(np.flatnonzero(np.all(self.masks == on, axis=1))[0])

    def everything(self, label: str) -> np.ndarray:
        return self.games[label][:, self._column(1)]

    def nothing(self, label: str) -> np.ndarray:
        return self.games[label][:, self._column(0)]

    def efficiency_error(self, label: str) -> float:
        """The largest |sum of the stems' values - (f(all) - f(none))| over the frames (0 up to rounding)."""
        gap = self.values(label).sum(axis=1) - (self.everything(label) - self.nothing(label))
        return float(np.max(np.abs(gap))) if len(gap) else 0.0

    def sentences(self) -> list[str]:
        """Per label, the frame where a pair of stems interacts most (when that is large next to its
        main effects); none when the values are sampled."""
        out: list[str] = []
        if not self.exact:
            return out
        for label in self.labels:
            values, interactions = self.values(label), self.interactions(label)
            best = None
            for frame in range(self.n_frames):
                for i, j, index in notable_interactions(values[frame], interactions[frame], self.stems)[:1]:
                    if best is None or abs(index) > abs(best[3]):
                        best = (frame, i, j, index)
            if best is not None:
                frame, i, j, _ = best
                out.append(f"{label}: " + together_sentence(self.stems, i, j, self.games[label][frame], f" at {self.times[frame]:.2f} s"))
        return out

    def summary(self) -> str:
        """What ``stemlime stemgram`` prints: per label where it peaks and which stem drives it there; interactions."""
        lines = [
            f"stemgram of {self.audio_path or 'an array'}: {self.n_frames} frames of {self.hop_seconds:.3f} s, "
            f"{len(self.stems)} stems ({', '.join(self.stems)}), {self.method} ({self.tagger_runs} tagger runs)"
        ]
        for label in self.labels:
            everything = self.everything(label)
            if not len(everything):
                continue
            peak = int(np.argmax(everything))
            values = self.values(label)[peak]
            top = int(np.argmax(values))
            mean = self.values(label).mean(axis=0)
            lines.append(
                f"  {label}: peaks at {self.times[peak]:.2f} s ({everything[peak]:.3f}; all off "
                f"{self.nothing(label)[peak]:.3f}), driven there by {self.stems[top]} {values[top]:+.3f}; over the song "
                + ", ".join(f"{s} {m:+.3f}" for s, m in sorted(zip(self.stems, mean), key=lambda x: -x[1]))
                + f"; efficiency error {self.efficiency_error(label):.1e}"
            )
        return "\n".join(lines + [f"  {s}" for s in self.sentences()])

    def record(self, files: dict[str, str] | None = None) -> StemgramRecord:
        return StemgramRecord(
            self.audio_path,
            dict(self.pipeline),
            list(self.labels),
            list(self.stems),
            self.hop_seconds,
            self.window_seconds,
            self.times,
            {name: self.everything(name) for name in self.labels},
            {name: self.nothing(name) for name in self.labels},
            {name: self.values(name) for name in self.labels},
            {name: self.interactions(name) for name in self.labels},
            {name: self.efficiency_error(name) for name in self.labels},
            self.method,
            self.sentences(),
            dict(files or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.record().to_json()

    def plot(self, label: str, path: str | Path) -> Path:
        return plot_stemgram(self.record(), label, path)

    def save(self, folder: str | Path, force: bool = False, *, inputs: Sequence[Any] = (), within: str | Path | None = None) -> Path:
        """Write the folder ``folder`` whole: ``stemgram.json``, ``stemgram-<n>.png`` per label,
        ``mixture.wav`` and ``stems/<stem>.wav`` (what the page plays) and ``index.html``.
        ``within``: the result folder this one is a part of (a scan's ``stemgram/``)."""
        from .report import render_report

        with ResultFolder(folder, kind="stemgram", inputs=[self.audio_path, *inputs], force=force, within=within) as staging:
            files = {"mixture": "mixture.wav"}
            audio_io.write_wav(staging / "mixture.wav", np.sum(list(self.stem_audio.values()), axis=0), self.sample_rate)
            (staging / "stems").mkdir()
            for number, (name, audio) in enumerate(self.stem_audio.items()):
                files[name] = f"stems/{number:02d}.wav"
                audio_io.write_wav(staging / files[name], audio, self.sample_rate)
            record = self.record(files)
            axes = {label: _draw(record, label, staging / StemgramRecord.picture(number)) for number, label in enumerate(self.labels)}
            write_stemgram(staging, attrs.evolve(record, time_axes=axes))
            render_report(staging, kind="stemgram")
        return Path(folder)

    def _repr_html_(self) -> str:
        """The picture of each label and the summary, for Jupyter."""
        import base64
        import html
        import io
        import tempfile

        parts = [f"<pre>{html.escape(self.summary())}</pre>"]
        with tempfile.TemporaryDirectory() as folder:
            record = self.record()
            for number, label in enumerate(self.labels):
                path = plot_stemgram(record, label, Path(folder) / StemgramRecord.picture(number))
                data = base64.b64encode(io.BytesIO(path.read_bytes()).getvalue()).decode("ascii")
                parts.append(f'<img alt="stemgram of {html.escape(label)}" src="data:image/png;base64,{data}">')
        return "\n".join(parts)


STEM_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def plot_stemgram(record: StemgramRecord, label: str, path: str | Path) -> Path:
    """The taggram line of ``label`` (f(all on), with f(all off) dashed) above the stems' signed
    Shapley values stacked per frame (positive up, negative down), time in seconds. A mark above
    a frame's bars: two stems interact there (their interaction index is large next to their
    main effects, :func:`stemlime.shapley.notable_interactions`): they act together, or cancel."""
    _draw(record, label, path)
    return Path(path)


def _draw(record: StemgramRecord, label: str, path: str | Path) -> list[float]:
    """Draw :func:`plot_stemgram`'s picture; returns where its time axis lies, ``[left, right,
    first, last]``: the axes' edges as shares of the picture's width and the seconds there (what
    the page needs to play the frame under a click)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, width = record.times, record.hop_seconds
    centres = times + record.window_seconds / 2
    values = np.asarray(record.values[label]).reshape(len(times), len(record.stems))
    interactions = np.asarray(record.interactions[label]).reshape(len(times), len(record.stems), len(record.stems))
    figure, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(min(16, max(7, len(times) * 0.15 + 4)), 5.5), gridspec_kw={"height_ratios": [1, 1.6]}
    )
    top.plot(centres, record.everything[label], color="black", marker=".", label="all stems (the song)")
    top.plot(centres, record.nothing[label], color="grey", linestyle="--", label="all stems off")
    top.set_ylabel(label)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    top.set_title(
        f"{Path(record.audio).name if record.audio else 'an array'}: {record.pipeline.get('tagger', '')}\n"
        + ("exact Shapley value" if record.method == METHOD else "Shapley value (kernel SHAP estimate)")
        + " of each stem, frame by frame",
        fontsize="medium",
    )
    positive, negative = np.zeros(len(times)), np.zeros(len(times))
    for number, stem in enumerate(record.stems):
        column = values[:, number]
        up, down = np.clip(column, 0, None), np.clip(column, None, 0)
        colour = STEM_COLOURS[number % len(STEM_COLOURS)]
        bottom.bar(times, up, width=width, bottom=positive, align="edge", color=colour, label=stem)
        bottom.bar(times, down, width=width, bottom=negative, align="edge", color=colour)
        positive, negative = positive + up, negative + down
    together = [
        (frame, pairs[0])
        for frame in range(len(times))
        for pairs in [notable_interactions(values[frame], interactions[frame], record.stems)]
        if pairs
    ]
    if together:  # frames where two stems matter only together, or cancel: a mark above the bars, named when few
        span = max(float(positive.max() - negative.min()), 1e-12)
        marks = [positive[frame] + 0.04 * span for frame, _ in together]
        for sign, marker, colour, what in ((1, "v", "black", "two stems act together"), (-1, "^", "grey", "two stems cancel")):
            chosen = [(centres[frame], mark) for (frame, (_, _, index)), mark in zip(together, marks) if index * sign > 0]
            if chosen:
                bottom.plot(*zip(*chosen), linestyle="none", marker=marker, color=colour, label=what)
        if len(together) <= 6:
            for (frame, (i, j, _)), height in zip(together, marks):
                bottom.annotate(
                    f"{record.stems[i]} × {record.stems[j]}",
                    (centres[frame], height),
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    fontsize="x-small",
                )
        bottom.set_ylim(top=max(bottom.get_ylim()[1], max(marks) + 0.15 * span))
    bottom.axhline(0, color="black", linewidth=0.5)
    bottom.set_ylabel("stem's share")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    box, (first, last) = bottom.get_position(), bottom.get_xlim()
    plt.close(figure)
    return [float(box.x0), float(box.x1), float(first), float(last)]


def frame_blocks(cuts: np.ndarray, floors: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The block components and masks that evaluate ``masks`` (M x K) on each of G frames in one engine.

    ``cuts`` (G x K x T float32) holds each frame's stems, ``floors`` (G) what each frame plays
    with every stem off (:func:`stemlime.engine.empty_value` of that frame). Frame g gets K + 1
    components, its stems and a constant at its floor; its masks switch on only its own block,
    and the floor only when all of its stems are off. So every mask mixes exactly one frame's
    stems (or its silence), no mask is all off, and the engine's memory never takes one frame's
    mask for another's. Returns C' (G(K+1) x T) and the masks (G M x G(K+1)), frame by frame.
    """
    g, k, t = cuts.shape
    floor = np.broadcast_to(np.asarray(floors, np.float32)[:, None, None], (g, 1, t))
    components = np.concatenate([cuts, floor], axis=1).reshape(g * (k + 1), t)
    silent = np.all(np.asarray(masks) == 0, axis=1).reshape(-1, 1)  # the all-off mask plays the frame's floor
    local = np.concatenate([masks, silent], axis=1).astype(np.int64)  # (M, K + 1)
    blocks = np.zeros((g, len(masks), g, k + 1), np.int64)
    blocks[np.arange(g), :, np.arange(g), :] = local
    return components, blocks.reshape(g * len(masks), g * (k + 1))


def _frames(n_samples: int, window: int, hop: int) -> int:
    """Frames of ``window`` samples every ``hop`` samples that fit (at least one)."""
    return max(1, (n_samples - window) // hop + 1) if n_samples >= window else 1


def stemgram(
    pipeline: "Pipeline",
    source: Any,
    *,
    labels: Sequence[str | int] | str | int,
    sample_rate: int | None = None,
    out: str | Path | None = None,
    force: bool = False,
    batch_size: int | None = None,
    samples: int | None = None,
    seed: int = 0,
) -> Stemgram:
    """The stemgram of the whole of ``source`` (a path, or an array with its ``sample_rate``) for
    ``labels``: exact Shapley values of each stem per tagger frame (frames every
    ``taggram_hop_seconds`` of the tagger, else every input window). With ``out`` it is saved
    there (:meth:`Stemgram.save`). The labels, the stem count and the output folder are checked
    before the tagger runs; the song is separated once (the pipeline's stem cache). With more
    than :data:`MOST_STEMS` stems each frame gets ``samples`` masks (default
    :data:`SAMPLED_MASKS`) drawn by kernel SHAP's sampler with ``seed``, and the values are its
    estimate (``Stemgram.method`` says so; no interactions); with fewer, ``samples`` is not used."""
    if batch_size is not None:
        check_batch_size(batch_size)
    samples = SAMPLED_MASKS if samples is None else whole_number(samples, "samples", minimum=2, flag="--samples")
    seed = whole_number(seed, "seed", minimum=0, maximum=2**32 - 1, flag="--seed")
    indices = label_indices(pipeline.tagger_labels, labels)
    names = [pipeline.tagger_labels[i] for i in indices]
    inputs = pipeline.inputs_of(source)
    if out is not None:
        check_destination(out, inputs, force=bool(force))
    tagger = pipeline.tagger
    rate = audio_io.as_sample_rate(tagger.sample_rate)
    song = pipeline if pipeline.cache is not None else pipeline.with_cache(StemCache(disk=False))
    stems = song.stems(source, sample_rate=sample_rate, rate=rate)
    length = max(len(s) for s in stems.values())
    input_seconds = getattr(tagger, "input_seconds", None)
    window = int(round(input_seconds * rate)) if input_seconds else length
    hop_seconds = float(getattr(tagger, "taggram_hop_seconds", None) or (input_seconds or length / rate))
    hop = max(1, int(round(hop_seconds * rate)))
    sampled = len(stems) > MOST_STEMS
    masks = shapley_masks(len(stems), samples, seed) if sampled else all_masks(len(stems))
    frames = _frames(length, window, hop)
    group = max(1, min(MASKS_PER_ENGINE // len(masks), COLUMNS_PER_ENGINE // (len(stems) + 1)))
    games: dict[str, list[np.ndarray]] = {name: [] for name in names}
    runs = 0
    for first in range(0, frames, group):
        cuts = np.stack(
            [
                [audio_io.fit_length(stem[frame * hop : frame * hop + window], window) for stem in stems.values()]
                for frame in range(first, min(frames, first + group))
            ]
        ).astype(np.float32)
        floors = np.array([empty_value(cut, pipeline.empty_mask) for cut in cuts], np.float32)
        components, block_masks = frame_blocks(cuts, floors, masks)
        engine = pipeline.engine(components, batch_size=batch_size)
        outputs = engine.outputs(block_masks).reshape(len(cuts), len(masks), -1)
        runs += engine.evaluations
        for name, index in zip(names, indices):
            games[name].append(outputs[:, :, index])
    result = Stemgram(
        None if not isinstance(source, (str, Path)) else str(source),
        names,
        list(stems),
        hop_seconds,
        window / rate,
        {name: np.concatenate(rows).astype(np.float64) for name, rows in games.items()},
        dict(pipeline.specs),
        rate,
        {name: np.asarray(s, np.float32) for name, s in stems.items()},
        runs,
        masks if sampled else None,
    )
    if out is not None:
        result.save(out, force=force, inputs=inputs)
    return result


__all__ = ["MOST_STEMS", "SAMPLED_MASKS", "Stemgram", "frame_blocks", "plot_stemgram", "stemgram"]
