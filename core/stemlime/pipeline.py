"""A Pipeline: separator + segmenter + tagger + surrogate, and ``explain`` that runs them.

    pipeline = Pipeline(tagger="musicnn", separator="oracle")
    explanation = pipeline.explain("song/mixture.wav", start=1.0, duration=3.0, samples=1000, seed=0)
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import attrs
import numpy as np

from . import audio as audio_io
from .components import Excerpt, build_components
from .config import EXPLAIN_KEYS, PIPELINE_KEYS, read_config
from .decision_tree import describe_rules
from .errors import AudioError, StemlimeError, UsageError
from .explainer import evaluate_neighbourhood, fit_surrogates, resolve_labels, run_tagger
from .explanation import Explanation, LabelExplanation
from .registry import Registry, get_registry
from .specs import Spec, as_spec
from .surrogate import surrogate_masks

SORTS = ("signed", "absolute")


def _is_spec(value: Any) -> bool:
    return isinstance(value, (str, Spec, Mapping))


class Pipeline:
    """The four components of an explanation. Each is a spec (string or table) or a ready object.

    Heavy components (taggers, separators) are built on first use, so a Pipeline is cheap to make.
    ``batch_size`` is the number of perturbations sent to the tagger at once.
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
        registry: Registry | None = None,
    ):
        if sort not in SORTS:
            raise UsageError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        self.registry = registry or get_registry()
        self.batch_size = int(batch_size)
        self.kernel_width = float(kernel_width)
        self.sort = sort
        self.empty_mask = empty_mask
        self._given = {"tagger": tagger, "separator": separator, "segmenter": segmenter, "surrogate": surrogate}
        self._built: dict[str, Any] = {}
        self.explain_defaults: dict[str, Any] = {}  # [explain] of a pipeline file
        self.specs: dict[str, str] = {}
        for kind, value in self._given.items():
            if _is_spec(value):
                _, variant, _ = self.registry.resolve(kind, value)  # fail early on bad specs
                spec = as_spec(value, kind)
                self.specs[kind] = str(Spec(spec.name, variant, spec.options))
            else:
                self._built[kind] = value
                self.specs[kind] = getattr(value, "name", type(value).__name__)

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> "Pipeline":
        """A pipeline from a TOML file; ``overrides`` replace the file's entries."""
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
        if kind not in self._built:
            self._built[kind] = self.registry.build(kind, self._given[kind])
        return self._built[kind]

    @property
    def tagger(self) -> Any:
        return self._component("tagger")

    @property
    def separator(self) -> Any:
        return self._component("separator")

    @property
    def segmenter(self) -> Any:
        return self._component("segmenter")

    @property
    def surrogate(self) -> Any:
        return self._component("surrogate")

    # ------------------------------------------------------------------ audio

    def _excerpt(self, source: Any, sample_rate: int | None, start: float, duration: float | None, rate: int) -> tuple[np.ndarray, Excerpt]:
        """The excerpt as mono float32 at ``rate`` Hz."""
        if isinstance(source, (str, Path)):
            _, _, total = audio_io.audio_info(source)
            if duration is None:
                if start >= total:
                    raise AudioError(f"start={start} s is past the end of {source} ({total:.3f} s long)")
                duration = total - start
            mix, _ = audio_io.load_audio(source, rate, start, duration)
            return mix, Excerpt(str(source), float(start), float(duration))
        if sample_rate is None:
            raise UsageError("explaining an array needs its sample_rate=HZ")
        array = audio_io.check_finite(audio_io.to_mono(np.asarray(source, dtype=np.float32)), "the audio array")
        first = int(round(start * sample_rate))
        last = len(array) if duration is None else first + int(round(duration * sample_rate))
        if first >= len(array) or last > len(array) or last <= first:
            raise AudioError(
                f"excerpt start={start} s, duration={duration} s does not fit in the {len(array) / sample_rate:.3f}-s array"
            )
        excerpt = array[first:last]
        return audio_io.resample(excerpt, sample_rate, rate), Excerpt(None, float(start), (last - first) / sample_rate)

    def _separate(self, mix: np.ndarray, rate: int, excerpt: Excerpt) -> dict[str, np.ndarray]:
        separator = self.separator
        parameters = inspect.signature(separator.separate).parameters
        takes_excerpt = "excerpt" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        stems = separator.separate(mix, rate, excerpt=excerpt) if takes_excerpt else separator.separate(mix, rate)
        if not isinstance(stems, Mapping) or not stems:
            raise StemlimeError(f"separator {self.specs['separator']} returned no stems")
        out = {}
        for name, stem in stems.items():
            stem = audio_io.to_mono(np.asarray(stem, dtype=np.float32))
            out[str(name)] = audio_io.check_finite(stem, f"stem {name!r} of separator {self.specs['separator']}")
        return out

    def separate(self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None) -> tuple[dict[str, np.ndarray], int]:
        """Stems of an excerpt at the separator's own rate (or the file's): ({name: audio}, rate)."""
        rate = getattr(self.separator, "sample_rate", None)
        if rate is None:
            rate = audio_io.audio_info(source)[0] if isinstance(source, (str, Path)) else sample_rate
        mix, excerpt = self._excerpt(source, sample_rate, start, duration, rate)
        return self._separate(mix, rate, excerpt), rate

    # ------------------------------------------------------------------ explain

    def explain(
        self,
        source: Any,
        *,
        sample_rate: int | None = None,
        labels: Sequence[str | int] | str | int | None = None,
        top_labels: int | None = None,
        start: float = 0.0,
        duration: float | None = None,
        samples: int | str = 1000,
        seed: int | None = 0,
        pad: bool = False,
        batch_size: int | None = None,
        progress: bool | None = None,
        checks: Sequence[str] | str | None = None,
    ) -> Explanation:
        """Explain the tagger's output on an excerpt of ``source`` (a path, or an array with ``sample_rate``).

        ``start``/``duration`` in seconds; ``samples`` a count or ``"exhaustive"``; ``labels``
        names or output indices (default: ``top_labels``, 3 if neither is given). An excerpt
        shorter than the tagger's input is refused unless ``pad=True`` (zeros at the end).
        ``batch_size`` overrides the pipeline's for this call. ``checks`` names trust checks
        (``fidelity``, ``stability``, ``sanity``, ``complexity``; see :mod:`stemlime.checks`)
        whose results land in ``explanation.checks``.
        """
        from .checks import parse_checks, run_checks  # checks use the pipeline: imported late

        tagger = self.tagger
        checks = parse_checks(checks, tagger, self.specs["tagger"])  # a check that cannot run fails before the tagger runs
        rate = int(tagger.sample_rate)
        mix, excerpt = self._excerpt(source, sample_rate, start, duration, rate)
        needed = math.ceil(tagger.input_seconds * rate) if getattr(tagger, "input_seconds", None) else 1
        if len(mix) < needed:
            if not pad:
                raise AudioError(
                    f"the excerpt is {len(mix) / rate:.3f} s long, but tagger {self.specs['tagger']} needs at least "
                    f"{tagger.input_seconds} s ({needed} samples at {rate} Hz). Choose a longer excerpt or pad it "
                    "with zeros (pad=True, --pad)."
                )
        separator_rate = getattr(self.separator, "sample_rate", None) or rate
        if separator_rate == rate:
            stems = self._separate(mix, rate, excerpt)
        else:
            mix_for_separator, _ = self._excerpt(source, sample_rate, excerpt.start, excerpt.duration, separator_rate)
            stems = self._separate(mix_for_separator, separator_rate, excerpt)
            stems = {name: audio_io.resample(stem, separator_rate, rate) for name, stem in stems.items()}
        stems = {name: audio_io.fit_length(stem, len(mix)) for name, stem in stems.items()}
        segments = self.segmenter.segment(mix, rate)
        components, component_audio = build_components(stems, segments)
        if component_audio.shape[1] < needed:
            component_audio = audio_io.fit_length(component_audio.T, needed).T.copy()

        masks = surrogate_masks(self.surrogate, len(components), samples, seed)
        neighbourhood = evaluate_neighbourhood(
            masks, component_audio, tagger, batch_size or self.batch_size, self.kernel_width, self.empty_mask, progress
        )
        tagger_labels = [str(label) for label in tagger.labels]
        if neighbourhood.predictions.shape[1] != len(tagger_labels):
            raise StemlimeError(
                f"tagger {self.specs['tagger']} has {len(tagger_labels)} labels but returned {neighbourhood.predictions.shape[1]} outputs"
            )
        reference = neighbourhood.predictions[0]
        indices = resolve_labels(tagger_labels, reference, labels, top_labels)
        fits = fit_surrogates(neighbourhood, indices, self.surrogate)
        label_explanations = {}
        for index, fit in fits.items():
            chosen = [int(i) for i in fit.selected]
            key = (lambda i: -abs(fit.weights[i])) if self.sort == "absolute" else (lambda i: -fit.weights[i])
            order = sorted(chosen, key=key)
            label_explanations[tagger_labels[index]] = LabelExplanation(
                label=tagger_labels[index],
                index=index,
                prediction=float(reference[index]),
                weights={components[i].name: float(fit.weights[i]) for i in order},
                intercept=fit.intercept,
                score=fit.score,
                local_prediction=fit.local_prediction,
                rules=describe_rules(getattr(fit, "rules", ()), [c.name for c in components]),
            )
        explanation = Explanation(
            audio_path=excerpt.path,
            start=excerpt.start,
            duration=excerpt.duration,
            sample_rate=rate,
            pipeline=dict(self.specs),
            samples=samples,
            seed=seed,
            components=components,
            component_audio=component_audio,
            labels=label_explanations,
            neighbourhood=neighbourhood,
            tagger_labels=tagger_labels,
        )
        if checks:
            explanation = attrs.evolve(explanation, checks=run_checks(self, explanation, checks, batch_size=batch_size))
        return explanation

    def tag(self, source: Any, *, sample_rate: int | None = None, start: float = 0.0, duration: float | None = None) -> np.ndarray:
        """The tagger's clip-level probabilities (L,) for an excerpt."""
        rate = int(self.tagger.sample_rate)
        mix, _ = self._excerpt(source, sample_rate, start, duration, rate)
        return run_tagger(self.tagger, mix[None, :])[0]


__all__ = ["Pipeline", "EXPLAIN_KEYS"]
