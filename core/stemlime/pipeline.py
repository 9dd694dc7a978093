"""A Pipeline: separator + segmenter + tagger + surrogate, and ``explain`` that runs them.

pipeline = Pipeline(tagger="musicnn", separator="oracle")
explanation = pipeline.explain("song/mixture.wav", start=1.0, duration=3.0, samples=1000, seed=0)
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import attrs
import numpy as np

from . import audio as audio_io
from .components import Components, Excerpt, build_components
from .config import EXPLAIN_KEYS, PIPELINE_KEYS, read_config
from .engine import SORTS, Engine, check_batch_size, check_empty_mask, check_kernel_width, run_tagger
from .errors import AudioError, StemlimeError, UsageError
from .explanation import Explanation
from .labels import check_label_request
from .protocols import Segmenter, Separator, Surrogate, Tagger, optional
from .registry import Registry, get_registry
from .request import ExplainRequest, check_span
from .residual import RESIDUAL_WARNING_DB, stems_residual_db
from .specs import Spec, as_spec
from .stemcache import StemCache, array_digest, cache_key, shared_cache
from .validators import one_of
from .verified_copy import sha256_of

STEMS_FROM = ("song", "excerpt")


def _is_spec(value: Any) -> bool:
    return isinstance(value, (str, Spec, Mapping))


# what a ready-made component object must have (protocols.py), checked when the pipeline is made
REQUIRED = {"tagger": ("labels", "sample_rate", "predict"), "separator": ("separate",), "segmenter": ("segment",), "surrogate": ("fit",)}


def _check_object(kind: str, value: Any) -> None:
    """Refuse a component that is neither a spec nor an object with the protocol's slots (a
    None or a wrong object would fail much later as an AttributeError)."""
    missing = [slot for slot in REQUIRED[kind] if not hasattr(value, slot)]
    if value is None or missing:
        what = "None" if value is None else f"an object of type {type(value).__name__} without {', '.join(missing)}"
        raise UsageError(
            f"the {kind} must be a spec (a string such as {DEFAULT_EXAMPLES[kind]!r}; see 'stemlime plugins') "
            f"or an object with {', '.join(REQUIRED[kind])} (stemlime.protocols.{kind.title()}), got {what}"
        )


DEFAULT_EXAMPLES = {"tagger": "musicnn:MSD_musicnn", "separator": "oracle", "segmenter": "whole", "surrogate": "ridge"}


class Pipeline:
    """The four components of an explanation: tagger, separator, segmenter and surrogate.

    Each component is a spec (a string such as ``"spleeter:2stems,device=cpu"`` or a table) or a
    ready object. Heavy components (taggers, separators) are built on first use, so a Pipeline is
    cheap to make. Separators that read the excerpt themselves (the oracle) always get the excerpt.

    Parameters
    ----------
    tagger : str, dict or object
        The model being explained: a spec (``"musicnn"``, ``"python,object=mymodel:tagger"``) or
        any object with ``labels``, ``sample_rate`` (Hz), ``input_seconds`` (s, or None: any
        length) and ``predict(batch)`` mapping float32 audio of shape (B, samples) to outputs of
        shape (B, labels).
    separator : str, dict or object, default "oracle"
        Splits the mix into stems (``{name: (samples,) float32}``).
    segmenter : str, dict or object, default "whole"
        Cuts the excerpt into time segments; components are stems x segments.
    surrogate : str, dict or object, default "ridge"
        The interpretable local model fitted on (masks, tagger outputs, kernel weights).
    batch_size : int, default 32
        Number of perturbations sent to the tagger at once.
    kernel_width : float, default 0.25
        Width of the kernel over the cosine distance of each mask to all-ones (unitless;
        audioLIME's 0.25).
    sort : {"signed", "absolute"}, default "signed"
        Order of the components in each label's weights.
    empty_mask : {"audiolime", "zeros"}, default "audiolime"
        What the tagger hears when every component is off: ``"audiolime"`` a constant at the
        minimum sample of the full composition (as audioLIME does), ``"zeros"`` digital silence.
    stems_from : {"song", "excerpt"}, default "song"
        ``"song"`` separates the whole input once and cuts every excerpt's stems from it (as
        audioLIME did; cached in memory and on disk, see :mod:`stemlime.stemcache`);
        ``"excerpt"`` separates only the excerpt.
    cache : bool or StemCache, default True
        The stem cache: True for the shared one, False to separate again every time, or a
        ready :class:`~stemlime.stemcache.StemCache`.
    registry : Registry, optional
        Where specs are resolved (default: the registry of the installed plugins).

    Examples
    --------
    >>> pipeline = stemlime.Pipeline(tagger="musicnn", separator="spleeter:2stems")  # doctest: +SKIP
    """

    def __init__(
        self,
        tagger: Any,
        separator: Any = "oracle",
        segmenter: Any = "whole",
        surrogate: Any = "ridge",
        *,
        batch_size: int = 32,
        kernel_width: float = 0.25,
        sort: str = "signed",
        empty_mask: str = "audiolime",
        stems_from: str = "song",
        cache: bool | StemCache = True,
        registry: Registry | None = None,
    ):
        one_of(sort, "sort", SORTS, flag="--sort")
        one_of(stems_from, "stems_from", STEMS_FROM)
        self.registry = registry or get_registry()
        self.batch_size = check_batch_size(batch_size)
        self.kernel_width = check_kernel_width(kernel_width)
        self.stems_from = stems_from
        self.cache = (shared_cache() if cache is True else None) if isinstance(cache, bool) else cache
        self.sort = sort
        self.empty_mask = check_empty_mask(empty_mask)
        self._given = {"tagger": tagger, "separator": separator, "segmenter": segmenter, "surrogate": surrogate}
        self._built: dict[str, Any] = {}
        self.explain_defaults: dict[str, Any] = {}  # [explain] of a pipeline file
        self.specs: dict[str, str] = {}
        for kind, value in self._given.items():
            if _is_spec(value):
                self.specs[kind] = str(self.given_spec(kind))  # resolving it fails early on bad specs
            elif value is None and kind == "tagger":  # a pipeline that only separates (stemlime separate)
                self.specs[kind] = "none"
            else:
                _check_object(kind, value)
                self._built[kind] = value
                self.specs[kind] = getattr(value, "name", type(value).__name__)

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> "Pipeline":
        """A pipeline from a TOML file; ``overrides`` (not None) replace the file's entries. The
        file's ``[explain]`` table becomes the defaults of :meth:`explain`."""
        config = read_config(path)
        explain = config.pop("explain")
        arguments = {key: explain[key] for key in PIPELINE_KEYS if key in explain} | config
        arguments.update({k: v for k, v in overrides.items() if v is not None})
        if "tagger" not in arguments:
            raise UsageError(f"pipeline file {path} names no tagger: add a [tagger] table")
        pipeline = cls(**arguments)
        pipeline.explain_defaults = {k: v for k, v in explain.items() if k not in PIPELINE_KEYS}
        return pipeline

    def _component(self, kind: str) -> Any:
        if self._given[kind] is None:
            raise UsageError(
                f"this pipeline has no {kind} ({kind}=None): give Pipeline({kind}=SPEC), e.g. "
                f"{kind}={DEFAULT_EXAMPLES[kind]!r}, to explain or tag"
            )
        if kind not in self._built:
            self._built[kind] = self.registry.build(kind, self._given[kind])
        return self._built[kind]

    @property
    def tagger(self) -> Tagger:
        return self._component("tagger")

    @property
    def separator(self) -> Separator:
        return self._component("separator")

    @property
    def segmenter(self) -> Segmenter:
        return self._component("segmenter")

    @property
    def surrogate(self) -> Surrogate:
        return self._component("surrogate")

    def with_cache(self, cache: StemCache | None) -> "Pipeline":
        """The same pipeline (its components shared, models not loaded again) with another stem cache."""
        other = copy.copy(self)
        other.cache = cache
        return other

    def inputs_of(self, source: Any) -> list[Any]:
        """The files and folders an explanation of ``source`` reads (the audio, and the true stems
        the oracle reads): what an output folder must never replace."""
        found = [source] if isinstance(source, (str, Path)) else []
        inputs = optional(self.separator, "separator", "inputs")
        return found + (list(inputs(source)) if inputs is not None else [])

    def engine(self, component_audio: np.ndarray, *, batch_size: int | None = None) -> Engine:
        """The explanation engine over ``component_audio`` (K x T at the tagger's rate) with this
        pipeline's tagger, surrogate and settings."""
        return Engine(
            component_audio,
            self.tagger,
            self.surrogate,
            kernel_width=self.kernel_width,
            empty_mask=self.empty_mask,
            batch_size=batch_size or self.batch_size,
            tagger_name=self.specs["tagger"],
            n_labels=len(self.tagger_labels),
        )

    @property
    def tagger_labels(self) -> list[str]:
        """The tagger's label names as strings."""
        return [str(label) for label in self.tagger.labels]

    # ------------------------------------------------------------------ audio

    def load_excerpt(
        self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None, rate: int | None = None
    ) -> tuple[np.ndarray, Excerpt]:
        """An excerpt of ``source`` (a file path, or an array with its ``sample_rate`` in Hz) as
        mono float32 at ``rate`` Hz (default: the tagger's), with where it came from.
        ``start``/``duration`` in seconds (``duration`` None: to the end). The excerpt's
        duration is what was actually decoded."""
        start, duration = check_span(start, duration)
        rate = int(self.tagger.sample_rate) if rate is None else audio_io.as_sample_rate(rate)
        if isinstance(source, (str, Path)):
            mix, _ = audio_io.load_audio(source, rate, start, duration)
            return mix, Excerpt(str(source), start, len(mix) / rate if duration is None else duration)
        if not isinstance(source, np.ndarray) and not hasattr(source, "__array__"):
            raise UsageError(
                f"the audio must be a file path (str or Path) or an array of samples with its sample_rate=HZ, got a {type(source).__name__}"
            )
        if sample_rate is None:
            raise UsageError("explaining an array needs its sample_rate=HZ")
        sample_rate = audio_io.as_sample_rate(sample_rate)
        array = audio_io.as_mix(source, sample_rate)
        first, last = _span_samples(start, duration, sample_rate, len(array))
        return audio_io.resample(array[first:last], sample_rate, rate), Excerpt(None, start, (last - first) / sample_rate)

    def _whole_input(self, source: Any, sample_rate: int | None, rate: int) -> np.ndarray:
        """The whole input as mono float32 at ``rate`` Hz."""
        if isinstance(source, (str, Path)):
            return audio_io.load_audio(source, rate)[0]
        sample_rate = audio_io.as_sample_rate(sample_rate)
        return audio_io.resample(audio_io.as_mix(source, sample_rate), sample_rate, rate)

    @staticmethod
    def _content_digest(source: Any, sample_rate: int | None) -> str:
        """The input's content digest (a file's bytes, or an array's samples and rate), without decoding a file."""
        if isinstance(source, (str, Path)):
            return sha256_of(Path(source))
        sample_rate = audio_io.as_sample_rate(sample_rate)
        return array_digest(audio_io.as_mix(source, sample_rate), sample_rate)

    def _run_separator(self, mix: np.ndarray, rate: int, excerpt: Excerpt | None = None) -> dict[str, np.ndarray]:
        separator = self.separator
        if optional(separator, "separator", "reads_excerpt"):
            stems = separator.separate(mix, rate, excerpt=excerpt)  # type: ignore[call-arg]  # the slot's call
        else:
            stems = separator.separate(mix, rate)
        if not isinstance(stems, Mapping) or not stems:
            raise StemlimeError(f"separator {self.specs['separator']} returned no stems")
        out = {}
        for name, stem in stems.items():
            stem = audio_io.to_mono(np.asarray(stem, dtype=np.float32))
            out[str(name)] = audio_io.check_finite(stem, f"stem {name!r} of separator {self.specs['separator']}")
        return out

    def _song_stems(self, source: Any, sample_rate: int | None, rate: int) -> dict[str, np.ndarray]:
        """Stems of the whole input at ``rate`` Hz, from the cache when this song was separated before."""
        key = cache_key(self._content_digest(source, sample_rate), self.specs["separator"], self._separator_version(), rate)
        stems = self.cache.get(key) if self.cache is not None else None
        if stems is None:  # a hit decodes nothing: every snippet of a long song's scan reuses its stems
            mix = self._whole_input(source, sample_rate, rate)
            stems = {name: audio_io.fit_length(stem, len(mix)) for name, stem in self._run_separator(mix, rate).items()}
            if self.cache is not None:
                self.cache.put(key, stems)
        return stems

    def _separator_version(self) -> str:
        """The separator's version (part of the stem cache key): see :meth:`component_version`."""
        return self.component_version("separator")

    def component_version(self, kind: str) -> str:
        """Where a component comes from: its plugin's package and version, or a ready object's class;
        for a separator also its ``fingerprint`` when it declares one (retrained weights must not
        reuse old stems, nor old results of explain-dataset)."""
        fingerprint = optional(self.separator, "separator", "fingerprint") if kind == "separator" else None
        suffix = f" {fingerprint}" if fingerprint else ""
        spec = self._given[kind]
        if not _is_spec(spec):
            return f"{type(spec).__module__}.{type(spec).__qualname__}{suffix}"
        package = self.registry.factory(kind, as_spec(spec, kind).name).package
        try:
            from importlib.metadata import version

            return f"{package} {version(package)}{suffix}"
        except Exception:
            return package + suffix

    def given_spec(self, kind: str) -> Spec | None:
        """The spec a component was given as (variant filled in), or None for a ready object."""
        value = self._given[kind]
        if not _is_spec(value):
            return None
        _, variant, _ = self.registry.resolve(kind, value)
        spec = as_spec(value, kind)
        return Spec(spec.name, variant, spec.options)

    def settings(self) -> dict[str, Any]:
        """The pipeline's settings besides its components (what ``Pipeline(...)`` takes as keywords)."""
        return {
            "batch_size": self.batch_size,
            "kernel_width": self.kernel_width,
            "sort": self.sort,
            "empty_mask": self.empty_mask,
            "stems_from": self.stems_from,
        }

    def recipe(self) -> dict[str, Any]:
        """The keywords that rebuild this pipeline in another process (a Ray worker): the components
        as given (specs, or the objects themselves, which must then be picklable), the settings and
        the kind of stem cache. Built models are not part of it: each process loads its own."""
        if self.registry is not get_registry():
            raise UsageError(
                "this pipeline uses its own Registry, which other processes cannot rebuild; install its "
                "plugins as packages (entry point group 'stemlime') and use the default registry"
            )
        if self.cache is None or self.cache is shared_cache():
            cache: bool | StemCache = self.cache is not None
        else:
            cache = StemCache(self.cache.folder, self.cache.max_bytes)  # its folder and bound, not the songs in memory
        return dict(self._given) | self.settings() | {"cache": cache}

    def stems(
        self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None, rate: int | None = None
    ) -> dict[str, np.ndarray]:
        """The stems of an excerpt as {name: mono float32} at ``rate`` Hz (default: the input's
        rate), each as long as the excerpt. A separator that computes stems separates the whole
        input once (``stems_from="song"``) and the excerpt is cut from its stems."""
        start, duration = check_span(start, duration)
        if rate is None:
            rate = audio_io.audio_info(source)[0] if isinstance(source, (str, Path)) else audio_io.as_sample_rate(sample_rate)
        mix, excerpt = self.load_excerpt(source, sample_rate=sample_rate, start=start, duration=duration, rate=rate)
        return self._excerpt_stems(source, sample_rate, mix, excerpt, rate)

    def _excerpt_stems(self, source: Any, sample_rate: int | None, mix: np.ndarray, excerpt: Excerpt, rate: int) -> dict[str, np.ndarray]:
        """Stems of ``excerpt`` (whose audio at ``rate`` Hz is ``mix``) at ``rate`` Hz, as long as ``mix``."""
        separator = self.separator
        separator_rate = separator.sample_rate or rate
        if optional(separator, "separator", "reads_excerpt") or self.stems_from == "excerpt":
            if separator_rate == rate:
                stems = self._run_separator(mix, rate, excerpt)
            else:
                own, _ = self.load_excerpt(
                    source, sample_rate=sample_rate, start=excerpt.start, duration=excerpt.duration, rate=separator_rate
                )
                stems = self._run_separator(own, separator_rate, excerpt)
        else:
            song = self._song_stems(source, sample_rate, separator_rate)
            first = int(round(excerpt.start * separator_rate))
            last = first + int(round(excerpt.duration * separator_rate))
            stems = {name: stem[first:last] for name, stem in song.items()}
        if separator_rate != rate:
            stems = {name: audio_io.resample(stem, separator_rate, rate) for name, stem in stems.items()}
        return {name: audio_io.fit_length(stem, len(mix)) for name, stem in stems.items()}

    def separate(
        self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None
    ) -> tuple[dict[str, np.ndarray], int]:
        """Stems of an excerpt at the input's own rate: ({name: mono float32}, rate in Hz)."""
        rate = audio_io.audio_info(source)[0] if isinstance(source, (str, Path)) else audio_io.as_sample_rate(sample_rate)
        return self.stems(source, sample_rate=sample_rate, start=start, duration=duration, rate=rate), rate

    def check_transcribes(self) -> None:
        """Refuse (UsageError) a separator that does not transcribe, before anything runs."""
        if optional(self.separator, "separator", "transcribe") is None:
            raise UsageError(
                f"separator {self.specs['separator']} does not transcribe notes (MIDI); choose one that does, e.g. --separator cerberus"
            )

    def transcribe(
        self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None
    ) -> dict[str, Any]:
        """The notes of each stem of an excerpt, {stem: stemlime.midi.Part}, in seconds from the
        excerpt's start, from a separator that declares ``transcribe`` (Cerberus)."""
        self.check_transcribes()
        separator = self.separator
        transcribe = optional(separator, "separator", "transcribe")
        rate = separator.sample_rate
        if rate is None:
            rate = audio_io.audio_info(source)[0] if isinstance(source, (str, Path)) else audio_io.as_sample_rate(sample_rate)
        mix, _ = self.load_excerpt(source, sample_rate=sample_rate, start=start, duration=duration, rate=rate)
        return dict(transcribe(mix, rate))

    # ------------------------------------------------------------------ explain

    def request(self, **given: Any) -> ExplainRequest:
        """The :class:`~stemlime.request.ExplainRequest` of the options ``given`` (None: not given),
        else of the pipeline file's ``[explain]`` table, else stemlime's defaults; checked."""
        return ExplainRequest.make(self.explain_defaults, **given)

    def components(
        self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None, pad: bool = False
    ) -> Components:
        """The components of an excerpt of ``source`` (a path, or an array with its ``sample_rate``
        in Hz; ``start``/``duration`` in seconds): its stems (cut from the song's separation,
        cached) crossed with its segments, at the tagger's rate. An excerpt shorter than the
        tagger's input is refused unless ``pad`` (zeros at the end)."""
        tagger = self.tagger
        rate = audio_io.as_sample_rate(tagger.sample_rate)
        mix, excerpt = self.load_excerpt(source, sample_rate=sample_rate, start=start, duration=duration, rate=rate)
        input_seconds = tagger.input_seconds
        needed = math.ceil(input_seconds * rate) if input_seconds else 1
        if len(mix) < needed and not pad:
            raise AudioError(
                f"the excerpt is {len(mix) / rate:.3f} s long, but tagger {self.specs['tagger']} needs at least "
                f"{input_seconds} s ({needed} samples at {rate} Hz). Choose a longer excerpt, or pad it with zeros "
                "(--pad, pad=True in Python)."
            )
        stems = self._excerpt_stems(source, sample_rate, mix, excerpt, rate)
        residual_db = stems_residual_db(mix, stems)
        # a separator that reads the excerpt's files itself (the oracle) warns about its own stems
        if residual_db < RESIDUAL_WARNING_DB and "rest" not in stems and not optional(self.separator, "separator", "reads_excerpt"):
            warnings.warn(
                f"the stems of separator {self.specs['separator']} add up to the mix only to {residual_db:.1f} dB: "
                "the explanation leaves out what they miss"
            )
        components, component_audio = build_components(stems, self.segmenter.segment(mix, rate))
        if component_audio.shape[1] < needed:
            component_audio = audio_io.fit_length(component_audio.T, needed).T.copy()
        return Components(components, component_audio, rate, excerpt, residual_db)

    def explain(
        self,
        source: Any,
        *,
        sample_rate: int | None = None,
        labels: Sequence[str | int] | str | int | None = None,
        top_labels: int | None = None,
        start: float | None = None,
        duration: float | None = None,
        samples: int | str | None = None,
        seed: int | None = None,
        pad: bool | None = None,
        checks: Sequence[str] | str | None = None,
        out: str | Path | None = None,
        top_k: int | None = None,
        force: bool | None = None,
        report: bool | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
        request: ExplainRequest | None = None,
    ) -> Explanation:
        """Explain the tagger's output on an excerpt of ``source``.

        Everything that can be checked is checked before the tagger runs: the options, the
        labels, the checks and the output folder. Options not given (None) come from the
        pipeline file's ``[explain]`` table, else stemlime's defaults.

        Parameters
        ----------
        source : str, Path or numpy.ndarray
            An audio file, or a mono waveform of shape (samples,) (float, at ``sample_rate``).
        sample_rate : int, optional
            Sample rate of an array ``source``, in Hz (not used for a path).
        labels : str, int or sequence of them, optional
            Labels to explain, by name or output index. Default: the ``top_labels`` highest.
        top_labels : int, optional
            Explain the K labels with the highest output (3 if neither this nor ``labels``).
        start : float, optional
            Start of the excerpt, in seconds (default 0).
        duration : float, optional
            Length of the excerpt, in seconds (default: to the end of the input).
        samples : int or {"exhaustive", "auto"}, optional
            Number of random masks (default 1000); ``"exhaustive"`` evaluates all 2^K masks,
            ``"auto"`` adds samples until the ranking of the components is stable.
        seed : int, optional
            Seed of the mask sampler (default 0).
        pad : bool, optional
            Pad an excerpt shorter than the tagger's input with zeros at the end (default
            False: such an excerpt is refused).
        checks : str or sequence of str, optional
            Trust checks to run (``fidelity``, ``stability``, ``sanity``, ``complexity``; see
            :mod:`stemlime.checks`); results land in ``explanation.checks``.
        out : str or Path, optional
            Save the explanation into this folder, replaced whole (see :meth:`Explanation.save`).
        top_k : int, optional
            Number of top positive components summed into ``explanations/<label>.wav`` (default 1).
        force : bool, optional
            Replace an ``out`` folder that stemlime did not write.
        report : bool, optional
            Also write the listening page ``out/index.html``.
        batch_size : int, optional
            Perturbations per tagger call for this call only (default: the pipeline's).
        progress : bool, optional
            Show a progress bar.
        request : ExplainRequest, optional
            A ready request (:meth:`request`) replacing all the options above; giving both is
            an error.

        Returns
        -------
        Explanation
            Per explained label, the component weights, intercept, surrogate fit (weighted
            R^2) and local prediction; the component audio has shape (K, samples) at the
            tagger's sample rate.

        Raises
        ------
        UsageError
            Bad options, unknown labels, a check that cannot run, or an output folder that may
            not be replaced.
        AudioError
            An unreadable input, or an excerpt shorter than the tagger's input without ``pad``.
        """
        from .checks import parse_checks, run_checks  # checks use the pipeline: imported late

        given = dict(
            labels=labels,
            top_labels=top_labels,
            start=start,
            duration=duration,
            samples=samples,
            seed=seed,
            pad=pad,
            checks=checks,
            out=out,
            top_k=top_k,
            force=force,
            report=report,
        )
        if request is None:
            request = self.request(**given)
        elif any(value is not None for value in given.values()):
            raise UsageError("give either a request or the options it holds, not both")
        inputs = self.inputs_of(source)
        request.check_output(inputs)
        check_label_request(self.tagger_labels, request.labels, request.top_labels)
        check_names = parse_checks(request.checks, self.tagger, self.specs["tagger"])  # a check that cannot run fails first
        parts = self.components(source, sample_rate=sample_rate, start=request.start, duration=request.duration, pad=request.pad)
        explanation = self.engine(parts.audio, batch_size=batch_size).explain(
            parts, request, tagger_labels=self.tagger_labels, pipeline=self.specs, sort=self.sort, progress=progress
        )
        if check_names:
            explanation = attrs.evolve(explanation, checks=run_checks(self, explanation, check_names, batch_size=batch_size))
        if request.out is not None:
            explanation.save(request.out, k=request.top_k, force=request.force, report=request.report, inputs=inputs)
        return explanation

    def tag(self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None) -> np.ndarray:
        """The tagger's clip-level outputs (L,) for an excerpt."""
        mix, _ = self.load_excerpt(source, sample_rate=sample_rate, start=start, duration=duration)
        return run_tagger(self.tagger, mix[None, :], self.specs["tagger"], len(self.tagger_labels))[0]

    def taggram(
        self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None
    ) -> tuple[np.ndarray, float]:
        """The tagger's output over time for an excerpt: (frames x labels, hop in seconds)."""
        from .tagging import taggram

        mix, _ = self.load_excerpt(source, sample_rate=sample_rate, start=start, duration=duration)
        return taggram(self.tagger, mix)


def _span_samples(start: float, duration: float | None, sample_rate: int, length: int) -> tuple[int, int]:
    """First and last sample (exclusive) of an excerpt of an array of ``length`` samples."""
    first = int(round(start * sample_rate))
    last = length if duration is None else first + int(round(duration * sample_rate))
    if first >= length or last > length or last <= first:
        raise AudioError(f"excerpt start={start} s, duration={duration} s does not fit in the {length / sample_rate:.3f}-s array")
    return first, last


__all__ = ["Pipeline", "EXPLAIN_KEYS", "check_span"]
