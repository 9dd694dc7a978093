"""Result records: what stemlime writes as JSON into a result folder, and reads back, typed.

Each JSON file of a result folder is one record, an attrs value with one writer and one
reader, so that every consumer (the pages, notebooks, the dataset runner and its aggregation,
the experiments) reads the same fields with the same defaults:

========================  ==========================  =========================================
file                      record                      written by
========================  ==========================  =========================================
``explanation.json``      :class:`ExplanationRecord`  ``Explanation.save`` (explain, check, tracks)
``scan.json``             :class:`ScanRecord`         ``Scan.save`` (scan, ``--snippets best:N``)
``stems.json``            :class:`StemsRecord`        :func:`stemlime.separation.write_stems`
``stemgram.json``         :class:`StemgramRecord`     ``Stemgram.save`` (stemgram)
``run.json``              :class:`DatasetRun`         ``explain_dataset``
``global.json``           :class:`GlobalExplanation`  ``explain_dataset``
========================  ==========================  =========================================

One strict encoder (:func:`json_text`): numbers that JSON cannot hold (NaN, infinities) are
written as ``null``, never as the non-standard ``NaN``. Every file carries ``"schema": N``, the
version of its layout; a file without one was written before records existed (version 1, the
same layout) and reads with the same defaults. A file from a newer stemlime is refused with a
message that says so.

The layouts are the documented ones (README, "Commands"): version 2 only adds ``schema``, and
each label's output ``index``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence, TypeVar

import attrs
import numpy as np

from .components import Component
from .errors import UsageError
from .fs import PathLike, write_text_atomically

SCHEMA = "schema"


# ---------------------------------------------------------------------------- strict JSON


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON types: NaN and infinities as None, numpy scalars and arrays as
    Python numbers and lists, tuples as lists, paths as text (recursively)."""
    if isinstance(value, float) or isinstance(value, np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def json_text(value: Any, indent: int | None = 1) -> str:
    """Strict JSON of ``value`` (see :func:`json_ready`), UTF-8 text, ending in a newline."""
    return json.dumps(json_ready(value), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: PathLike, value: Any) -> Path:
    """``value`` as strict JSON into ``path``, atomically."""
    return write_text_atomically(path, json_text(value))


def read_json(path: PathLike) -> Any:
    """A JSON file of a result folder; a UsageError that says what to do when it is missing or damaged."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path} ({error}); the result folder is incomplete: run the command that wrote it again") from None


def _version(data: Any, current: int, path: PathLike) -> int:
    """The schema version of a record's JSON (1 without one); refuses a file that is not an object
    or comes from a newer stemlime."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{path} does not hold a JSON object; the result folder is damaged: run the command that wrote it again")
    version = data.get(SCHEMA, 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UsageError(f"{path} has an unknown schema {version!r}; run the command that wrote it again")
    if version > current:
        raise UsageError(
            f"{path} was written by a newer stemlime (schema {version}, this one reads up to {current}); "
            "upgrade stemlime (pip install -U stemlime) to read it"
        )
    return version


R = TypeVar("R")


def _read_record(cls: type[R], path: PathLike) -> R:
    data = read_json(path)
    _version(data, getattr(cls, "VERSION"), path)
    try:
        return getattr(cls, "from_json")(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise UsageError(
            f"{path} lacks what a {cls.__name__} holds ({type(error).__name__}: {error}); the result folder "
            "is damaged: run the command that wrote it again"
        ) from None


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------------------- explanations


@attrs.frozen(eq=False)
class LabelExplanation:
    """The surrogate fitted for one label; ``weights`` is ordered as the explanation sorts.

    A weight, score or intercept the surrogate could not define is NaN in memory and ``null``
    in ``explanation.json`` (read back as NaN)."""

    label: str
    index: int | None  # position in the tagger's output (None in a file of schema 1)
    prediction: float  # tagger output on the unperturbed excerpt (all components on)
    weights: dict[str, float]
    intercept: float
    score: float  # weighted R^2 of the surrogate on the neighbourhood
    local_prediction: float  # the surrogate's output for the all-ones mask
    rules: list[str] = attrs.field(factory=list)  # rule surrogates (tree): "vocals on and drums off -> 0.73"
    output_range: float | None = None  # max - min of the tagger's output over the neighbourhood (None: not recorded)

    STILL = 1e-6
    """An output whose range over the neighbourhood is at most this share of max(1, |prediction|)
    does not move: switching components off changes nothing (silence, a saturated output), so no
    component explains it, whatever the surrogate's weights (then about 1e-30) say."""

    @property
    def moves(self) -> bool:
        """Whether switching components off changes the tagger's output for this label."""
        if self.output_range is None or not math.isfinite(self.prediction):
            return True
        return self.output_range > self.STILL * max(1.0, abs(self.prediction))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "weights": dict(self.weights),
            "intercept": self.intercept,
            "score": self.score,
            "local_prediction": self.local_prediction,
        }
        if self.rules:
            out["rules"] = list(self.rules)
        if self.index is not None:
            out["index"] = self.index
        if self.output_range is not None:
            out["output_range"] = self.output_range
        return out

    @classmethod
    def from_json(cls, label: str, data: Mapping[str, Any], prediction: Any) -> "LabelExplanation":
        number = lambda value: math.nan if value is None else float(value)  # noqa: E731
        return cls(
            label=label,
            index=data.get("index"),
            prediction=number(prediction),
            weights={str(c): number(w) for c, w in data["weights"].items()},
            intercept=number(data.get("intercept")),
            score=number(data.get("score")),
            local_prediction=number(data.get("local_prediction")),
            rules=[str(rule) for rule in data.get("rules", [])],
            output_range=_float_or_none(data.get("output_range")),
        )


def component_from_json(data: Mapping[str, Any]) -> Component:
    band = data.get("band")
    return Component(
        str(data["name"]),
        str(data["stem"]),
        data.get("segment"),
        float(data["start"]),
        float(data["end"]),
        None if band is None else (float(band[0]), float(band[1])),
    )


@attrs.frozen
class ExplanationFiles:
    """Where the audio of a saved explanation is, relative to its folder."""

    excerpt: str  # every component on: the excerpt as the tagger heard it
    components: dict[str, str]  # component -> components/<file>.wav
    explanations: dict[str, str]  # label -> explanations/<file>.wav (the sum of its top-k components)

    def to_json(self) -> dict[str, Any]:
        return {"excerpt": self.excerpt, "components": dict(self.components), "explanations": dict(self.explanations)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExplanationFiles":
        return cls(str(data.get("excerpt", "excerpt.wav")), dict(data.get("components", {})), dict(data.get("explanations", {})))


def _residual_json(value: float | None) -> float | str | None:
    """A residual in dB for JSON: ``"inf"`` when the stems add up exactly."""
    if value is None:
        return None
    return "inf" if value == math.inf else (None if not math.isfinite(value) else float(value))


@attrs.frozen
class ExactShapley:
    """One label's exact Shapley values when every mask of K <= 10 components was evaluated
    (``samples="exhaustive"``): ``values`` per component, ``interactions`` per pair (Grabisch and
    Roubens' index) and ``notes``, the sentences the summary prints (pairs that act together, a
    surrogate whose top component is not the exact top)."""

    values: dict[str, float]
    interactions: dict[tuple[str, str], float]
    notes: list[str] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "values": dict(self.values),
            "notes": list(self.notes),
            "interactions": [{"components": [a, b], "index": index} for (a, b), index in self.interactions.items()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExactShapley":
        return cls(
            {str(c): float(v) for c, v in data["values"].items()},
            {(str(p["components"][0]), str(p["components"][1])): float(p["index"]) for p in data.get("interactions", [])},
            [str(note) for note in data.get("notes", [])],
        )


@attrs.frozen(eq=False)
class ExplanationRecord:
    """``explanation.json``: one explained excerpt, without its audio (``files`` says where that is)."""

    VERSION: ClassVar[int] = 2
    FILE: ClassVar[str] = "explanation.json"

    audio: str | None  # the explained file (None: an array)
    start: float  # seconds into the file
    duration: float  # seconds
    sample_rate: int  # Hz, the tagger's
    pipeline: dict[str, str]
    samples: int | str
    seed: int | None
    distinct_evaluations: int  # tagger runs
    components: list[Component]
    labels: dict[str, LabelExplanation]
    checks: dict[str, Any] = attrs.field(factory=dict)  # trust checks by name, as stemlime.checks returns them
    outputs: str = "probabilities"  # or "scores"
    stems_residual_db: float | None = None  # how well the stems add up to the mix, dB (inf: exactly)
    sampling: dict[str, Any] = attrs.field(factory=dict)  # samples="auto": the rounds it took
    dataset: dict[str, Any] = attrs.field(factory=dict)  # explain-dataset's record of the track
    files: ExplanationFiles | None = None  # None until saved
    top_k: int = 1  # components summed in each explanations/<label>.wav
    exact: dict[str, ExactShapley] = attrs.field(factory=dict)  # per label, when every mask was evaluated (K <= 10)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            SCHEMA: self.VERSION,
            "audio": self.audio,
            "start": self.start,
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "pipeline": dict(self.pipeline),
            "samples": self.samples,
            "seed": self.seed,
            "distinct_evaluations": self.distinct_evaluations,
            "components": [c.to_dict() for c in self.components],
            "prediction": {name: label.prediction for name, label in self.labels.items()},
            "labels": {name: label.to_json() for name, label in self.labels.items()},
            "checks": dict(self.checks),
            "outputs": self.outputs,
            "stems_residual_db": _residual_json(self.stems_residual_db),
        }
        if self.sampling:
            out["sampling"] = dict(self.sampling)
        if self.dataset:
            out["dataset"] = dict(self.dataset)
        if self.exact:
            out["exact"] = {label: exact.to_json() for label, exact in self.exact.items()}
        if self.files is not None:
            out |= {"files": self.files.to_json(), "top_k": self.top_k}
        return json_ready(out)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExplanationRecord":
        residual = data.get("stems_residual_db")
        predictions = data.get("prediction", {})
        return cls(
            audio=data.get("audio"),
            start=float(data.get("start", 0.0)),
            duration=float(data.get("duration", 0.0)),
            sample_rate=int(data["sample_rate"]),
            pipeline=dict(data.get("pipeline", {})),
            samples=data.get("samples", 0),
            seed=data.get("seed"),
            distinct_evaluations=int(data.get("distinct_evaluations", 0)),
            components=[component_from_json(c) for c in data.get("components", [])],
            labels={name: LabelExplanation.from_json(name, label, predictions.get(name)) for name, label in data.get("labels", {}).items()},
            checks=dict(data.get("checks") or {}),
            outputs=str(data.get("outputs", "probabilities")),
            stems_residual_db=math.inf if residual == "inf" else _float_or_none(residual),
            sampling=dict(data.get("sampling") or {}),
            dataset=dict(data.get("dataset") or {}),
            files=ExplanationFiles.from_json(data["files"]) if "files" in data else None,
            top_k=int(data.get("top_k", 1)),
            exact={str(label): ExactShapley.from_json(exact) for label, exact in (data.get("exact") or {}).items()},
        )

    def stem_of(self) -> dict[str, str]:
        """Component name -> its stem."""
        return {component.name: component.stem for component in self.components}


def write_explanation(folder: PathLike, record: ExplanationRecord) -> Path:
    return write_json(Path(folder) / ExplanationRecord.FILE, record.to_json())


def read_explanation(folder: PathLike) -> ExplanationRecord:
    """The record of an explanation folder (``explanation.json``), of today's or an earlier stemlime."""
    return _read_record(ExplanationRecord, Path(folder) / ExplanationRecord.FILE)


# ---------------------------------------------------------------------------- scans


@attrs.frozen
class SnippetRecord:
    """One explained snippet of a scan: its window of the song and the summary of its explanation."""

    rank: int  # 1 = the label's highest taggram frame
    frame: int
    start: float  # seconds into the song
    end: float
    probability: float  # the label's taggram value at the frame
    prediction: float  # the tagger's output on the snippet as explained
    score: float  # the surrogate's R^2
    weights: dict[str, float]
    top_component: str | None
    top_stem: str | None
    explanation: str  # the snippet's explanation folder, relative to the scan folder

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "frame": self.frame,
            "start": self.start,
            "end": self.end,
            "probability": self.probability,
            "prediction": self.prediction,
            "score": self.score,
            "weights": dict(self.weights),
            "top_component": self.top_component,
            "top_stem": self.top_stem,
            "explanation": self.explanation,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SnippetRecord":
        nan = lambda value: math.nan if value is None else float(value)  # noqa: E731
        return cls(
            int(data["rank"]),
            int(data.get("frame", 0)),
            float(data["start"]),
            float(data["end"]),
            nan(data.get("probability")),
            nan(data.get("prediction")),
            nan(data.get("score")),
            {str(c): nan(w) for c, w in data.get("weights", {}).items()},
            data.get("top_component"),
            data.get("top_stem"),
            str(data["explanation"]),
        )


@attrs.frozen(eq=False)
class ScanRecord:
    """``scan.json``: a song's taggram and the snippets explained where one label is highest."""

    VERSION: ClassVar[int] = 2
    FILE: ClassVar[str] = "scan.json"

    audio: str | None
    label: str
    pipeline: dict[str, str]
    hop_seconds: float
    window_seconds: float
    snippets: list[SnippetRecord]
    summary: dict[str, int]  # stem -> snippets it is the top explanation of
    verdict: str
    tagger_labels: list[str]
    taggram: np.ndarray  # (frames x labels)
    dataset: dict[str, Any] = attrs.field(factory=dict)
    stemgram: str | None = None  # the folder of the song's stemgram (scan --stemgram), relative

    def to_json(self) -> dict[str, Any]:
        return json_ready(
            {
                SCHEMA: self.VERSION,
                "audio": self.audio,
                "label": self.label,
                "pipeline": dict(self.pipeline),
                "hop_seconds": self.hop_seconds,
                "window_seconds": self.window_seconds,
                "snippets": [s.to_json() for s in self.snippets],
                "summary": dict(self.summary),
                "verdict": self.verdict,
                "taggram": {"labels": list(self.tagger_labels), "values": np.asarray(self.taggram)},
                **({"dataset": dict(self.dataset)} if self.dataset else {}),
                **({"stemgram": self.stemgram} if self.stemgram else {}),
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ScanRecord":
        taggram = data.get("taggram") or {}
        return cls(
            data.get("audio"),
            str(data["label"]),
            dict(data.get("pipeline", {})),
            float(data["hop_seconds"]),
            float(data.get("window_seconds", data["hop_seconds"])),
            [SnippetRecord.from_json(s) for s in data.get("snippets", [])],
            dict(data.get("summary", {})),
            str(data.get("verdict", "")),
            list(taggram.get("labels", [])),
            np.asarray(taggram.get("values", []), dtype=np.float64),
            dict(data.get("dataset") or {}),
            data.get("stemgram"),
        )

    @property
    def duration(self) -> float:
        """Seconds of song the taggram covers."""
        return len(self.taggram) * self.hop_seconds


def write_scan(folder: PathLike, record: ScanRecord) -> Path:
    return write_json(Path(folder) / ScanRecord.FILE, record.to_json())


def read_scan(folder: PathLike) -> ScanRecord:
    """The record of a scan folder (``scan.json``)."""
    return _read_record(ScanRecord, Path(folder) / ScanRecord.FILE)


# ---------------------------------------------------------------------------- stemgram


@attrs.frozen(eq=False)
class StemgramRecord:
    """``stemgram.json``: exact Shapley values of each stem, per taggram frame and label.

    ``values[label]`` is (frames x stems), ``interactions[label]`` (frames x stems x stems);
    ``everything``/``nothing`` (frames,) are f(all stems on) and f(all off) per label;
    ``efficiency_error[label]``: the largest |sum of values - (f(all) - f(none))| over frames."""

    VERSION: ClassVar[int] = 1
    FILE: ClassVar[str] = "stemgram.json"

    audio: str | None
    pipeline: dict[str, str]
    labels: list[str]
    stems: list[str]
    hop_seconds: float
    window_seconds: float
    times: np.ndarray  # (frames,) frame starts in seconds
    everything: dict[str, np.ndarray]
    nothing: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    interactions: dict[str, np.ndarray]
    efficiency_error: dict[str, float]
    method: str  # "exact (all 2^K masks per frame)"
    sentences: list[str]  # what the summary says about interactions
    files: dict[str, str] = attrs.field(factory=dict)  # "mixture" and each stem -> its WAV, relative
    # per label, where the picture's time axis lies: [left, right] as shares of its width, [first, last] in seconds
    time_axes: dict[str, list[float]] = attrs.field(factory=dict)

    @staticmethod
    def picture(number: int) -> str:
        """The picture of the ``number``-th label (labels are free text: the files are numbered)."""
        return f"stemgram-{number}.png"

    def to_json(self) -> dict[str, Any]:
        return json_ready(
            {
                SCHEMA: self.VERSION,
                "audio": self.audio,
                "pipeline": dict(self.pipeline),
                "labels": list(self.labels),
                "stems": list(self.stems),
                "hop_seconds": self.hop_seconds,
                "window_seconds": self.window_seconds,
                "method": self.method,
                "times": np.asarray(self.times),
                "per_label": {
                    label: {
                        "everything": self.everything[label],
                        "nothing": self.nothing[label],
                        "values": self.values[label],
                        "interactions": self.interactions[label],
                        "efficiency_error": self.efficiency_error[label],
                    }
                    for label in self.labels
                },
                "sentences": list(self.sentences),
                "files": dict(self.files),
            }
            | ({"time_axes": dict(self.time_axes)} if self.time_axes else {})
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StemgramRecord":
        per = data.get("per_label", {})
        labels = [str(label) for label in data["labels"]]

        def arrays(key: str) -> dict[str, np.ndarray]:
            return {label: np.asarray(per[label][key], dtype=np.float64) for label in labels}

        return cls(
            data.get("audio"),
            dict(data.get("pipeline", {})),
            labels,
            [str(s) for s in data["stems"]],
            float(data["hop_seconds"]),
            float(data["window_seconds"]),
            np.asarray(data["times"], dtype=np.float64),
            arrays("everything"),
            arrays("nothing"),
            arrays("values"),
            arrays("interactions"),
            {label: math.nan if per[label].get("efficiency_error") is None else float(per[label]["efficiency_error"]) for label in labels},
            str(data.get("method", "")),
            [str(s) for s in data.get("sentences", [])],
            dict(data.get("files", {})),
            {str(label): [float(x) for x in axis] for label, axis in (data.get("time_axes") or {}).items()},
        )


def write_stemgram(folder: PathLike, record: StemgramRecord) -> Path:
    return write_json(Path(folder) / StemgramRecord.FILE, record.to_json())


def read_stemgram(folder: PathLike) -> StemgramRecord:
    """The record of a stemgram folder (``stemgram.json``)."""
    return _read_record(StemgramRecord, Path(folder) / StemgramRecord.FILE)


# ---------------------------------------------------------------------------- stems


@attrs.frozen
class StemsRecord:
    """``stems.json``: a separation's files, relative to its folder."""

    VERSION: ClassVar[int] = 2
    FILE: ClassVar[str] = "stems.json"

    stems: dict[str, str]  # stem -> <file>.wav
    sample_rate: int  # Hz
    midi: dict[str, str] | None = None  # stem -> <file>.mid, from a separator that transcribes

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {SCHEMA: self.VERSION, "stems": dict(self.stems), "sample_rate": int(self.sample_rate)}
        return out | ({"midi": dict(self.midi)} if self.midi is not None else {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StemsRecord":
        return cls(dict(data["stems"]), int(data["sample_rate"]), data.get("midi"))


def write_stems_record(folder: PathLike, record: StemsRecord) -> Path:
    return write_json(Path(folder) / StemsRecord.FILE, record.to_json())


def read_stems_record(folder: PathLike) -> StemsRecord:
    return _read_record(StemsRecord, Path(folder) / StemsRecord.FILE)


# ---------------------------------------------------------------------------- datasets


@attrs.frozen
class StemMetrics:
    """One stem's numbers for one label in a global explanation (see :mod:`stemlime.dataset.aggregate`)."""

    n: int
    mean_weight: float
    mean_abs_weight: float
    top1_share: float
    importance: float
    homogeneity_importance: float

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class LabelSummary:
    """A label of a global explanation: how many tracks and explanations explain it, and per stem its metrics."""

    tracks: int
    explanations: int
    components: dict[str, StemMetrics]  # stem -> metrics, in the order the stems first appeared

    def ranked(self) -> list[tuple[str, StemMetrics]]:
        """The stems, most important first."""
        return sorted(self.components.items(), key=lambda item: -item[1].importance)


@attrs.frozen
class GlobalExplanation:
    """``global.json``: many tracks' explanations aggregated by stem, per label (most explained first)."""

    VERSION: ClassVar[int] = 2
    FILE: ClassVar[str] = "global.json"

    tracks: int
    explanations: int
    labels: dict[str, LabelSummary]
    settings_hash: str | None = None
    snippets: str | None = None  # "best:N" when tracks were explained in snippets
    metadata: dict[str, dict[str, dict[str, int]]] | None = None  # column -> value -> top tag -> tracks

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            SCHEMA: self.VERSION,
            "tracks": self.tracks,
            "explanations": self.explanations,
            "labels": {
                label: {
                    "tracks": s.tracks,
                    "explanations": s.explanations,
                    "components": {stem: m.to_json() for stem, m in s.components.items()},
                }
                for label, s in self.labels.items()
            },
        }
        if self.settings_hash is not None:
            out["settings_hash"] = self.settings_hash
        if self.snippets is not None:
            out["snippets"] = self.snippets
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return json_ready(out)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GlobalExplanation":
        labels = {}
        for label, entry in data.get("labels", {}).items():
            components = {
                stem: StemMetrics(
                    int(m["n"]),
                    *(
                        float(m[k]) if m.get(k) is not None else math.nan
                        for k in ("mean_weight", "mean_abs_weight", "top1_share", "importance", "homogeneity_importance")
                    ),
                )
                for stem, m in entry["components"].items()
            }
            labels[label] = LabelSummary(int(entry["tracks"]), int(entry.get("explanations", entry["tracks"])), components)
        return cls(
            int(data.get("tracks", 0)),
            int(data.get("explanations", data.get("tracks", 0))),
            labels,
            data.get("settings_hash"),
            data.get("snippets"),
            data.get("metadata"),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per label and stem (what ``global.csv`` holds)."""
        return [
            {"label": label, "stem": stem, "tracks": s.tracks, **metrics.to_json(), "explanations": s.explanations}
            for label, s in self.labels.items()
            for stem, metrics in s.components.items()
        ]


@attrs.frozen
class TrackFailure:
    """A line of ``failures.jsonl``: a track that failed, the error's type and what went wrong."""

    track: str
    error: str | None
    message: str | None

    def to_json(self) -> dict[str, Any]:
        return {"track": self.track, "error": self.error, "message": self.message}


@attrs.frozen
class DatasetRun:
    """``run.json``: what an explain-dataset run did. ``settings`` is the record its hash is made of."""

    VERSION: ClassVar[int] = 2
    FILE: ClassVar[str] = "run.json"

    data: str  # the dataset folder
    out: str
    engine: str
    address: str | None
    started: str  # ISO 8601, UTC
    pipeline: dict[str, str]
    settings: dict[str, Any]  # pipeline, settings, explain options, top_k, versions, snippets
    settings_hash: str
    complete: bool
    results: dict[str, str]  # track -> its folder, relative to OUT
    tracks: dict[str, int]  # total, explained, skipped, failed, not_run, replaced
    wall_seconds: float
    tracks_per_minute: float
    workers: list[dict[str, Any]]  # per worker process: worker, tracks, peak_rss_mb
    versions: dict[str, str]
    metadata: dict[str, Any] | None = None  # file, tracks_not_listed

    def to_json(self) -> dict[str, Any]:
        out = {SCHEMA: self.VERSION, "kind": "dataset"} | {
            field.name: getattr(self, field.name) for field in attrs.fields(type(self)) if field.name != "metadata"
        }
        return json_ready(out | ({"metadata": self.metadata} if self.metadata is not None else {}))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DatasetRun":
        return cls(
            str(data.get("data", "")),
            str(data.get("out", "")),
            str(data.get("engine", "local")),
            data.get("address"),
            str(data.get("started", "")),
            dict(data.get("pipeline", {})),
            dict(data.get("settings", {})),
            str(data.get("settings_hash", "")),
            bool(data.get("complete", False)),
            dict(data.get("results", {})),
            dict(data.get("tracks", {})),
            float(data.get("wall_seconds", 0.0)),
            float(data.get("tracks_per_minute", 0.0)),
            list(data.get("workers", [])),
            dict(data.get("versions", {})),
            data.get("metadata"),
        )


def read_dataset_run(folder: PathLike) -> DatasetRun:
    return _read_record(DatasetRun, Path(folder) / DatasetRun.FILE)


def read_global_explanation(folder: PathLike) -> GlobalExplanation:
    return _read_record(GlobalExplanation, Path(folder) / GlobalExplanation.FILE)


def read_failures(path: PathLike) -> list[TrackFailure]:
    """``failures.jsonl``'s records; a line that is not JSON is kept as it is (track ``?``)."""
    path = Path(path)
    if not path.is_file():
        return []
    failures = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                data = json.loads(line)
                failures.append(TrackFailure(str(data.get("track", "?")), data.get("error"), data.get("message")))
            except (ValueError, AttributeError):
                failures.append(TrackFailure("?", "unreadable line", line))
    return failures


def failures_text(failures: Sequence[TrackFailure]) -> str:
    """``failures.jsonl``'s text: one strict JSON line per failure."""
    return "".join(json_text(failure.to_json(), indent=None) for failure in failures)


__all__ = [
    "DatasetRun",
    "ExactShapley",
    "ExplanationFiles",
    "ExplanationRecord",
    "GlobalExplanation",
    "LabelExplanation",
    "LabelSummary",
    "SCHEMA",
    "ScanRecord",
    "SnippetRecord",
    "StemgramRecord",
    "read_stemgram",
    "write_stemgram",
    "StemMetrics",
    "StemsRecord",
    "TrackFailure",
    "failures_text",
    "json_ready",
    "json_text",
    "read_dataset_run",
    "read_explanation",
    "read_failures",
    "read_global_explanation",
    "read_json",
    "read_scan",
    "read_stems_record",
    "write_explanation",
    "write_json",
    "write_scan",
    "write_stems_record",
]
