"""The explanation engine: one object over fixed components that owns everything after separation.

Given the component audio C (K x T), a tagger and a surrogate, the engine draws masks (the
surrogate's own sampler or LIME's), runs the tagger once per DISTINCT mask it has not seen
(in batches; each batch's audio is one ``masks @ C`` product), remembers the outputs, weights
the masks with LIME's kernel and fits the surrogate per label. ``Pipeline.explain``, every
trust check and the song-scale features use it; nothing else evaluates a neighbourhood.

On an accelerator the tagger may mix the perturbations itself (its ``stage`` and
``predict_masks`` slots, :mod:`stemlime.protocols`): C then goes to its device once per
explanation, each batch sends only its (B, K) masks there, and the batches are as large as the
tagger asks (``mask_batch_size``). Without those slots (or when ``stage`` declines, as on a CPU)
the engine mixes in numpy and calls ``predict``.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .components import Component, Components, compose
from .errors import StemlimeError, UsageError
from .explanation import Explanation, LabelExplanation, Neighbourhood
from .labels import resolve_labels
from .protocols import OUTPUT_KINDS, Surrogate, Tagger, optional
from .request import ExplainRequest, check_fits_in_memory
from .surrogates.fit import SurrogateFit
from .surrogates.lime import cosine_distances_to_all_ones, kernel, sample_masks
from .surrogates.tree import describe_rules
from .validators import one_of, positive_number, whole_number

EMPTY_MASK_MODES = ("audiolime", "zeros")
_NOT_STAGED = object()
SORTS = ("signed", "absolute")


def run_tagger(tagger: Tagger, audio: np.ndarray, name: str = "the tagger", n_labels: int | None = None) -> np.ndarray:
    """``tagger.predict`` on a (B, T) batch with its output checked: (B, L) finite values as float64.

    A tagger that raises is reported by name with its own message (a StemlimeError it raises,
    e.g. too-short audio, passes through unchanged).
    """
    return checked_outputs(lambda: tagger.predict(audio), audio.shape, name, n_labels)


def checked_outputs(call: Callable[[], Any], shape: tuple[int, ...], name: str = "the tagger", n_labels: int | None = None) -> np.ndarray:
    """The tagger's outputs for ``shape[0]`` inputs of ``shape[1]`` samples from ``call()``, checked:
    (B, L) finite real values, as float64; a failure is reported with the tagger's name."""
    try:
        out = np.asarray(call())
    except StemlimeError:
        raise
    except Exception as error:
        raise StemlimeError(
            f"tagger {name} failed on a batch of {shape[0]} input(s) of {shape[1]} samples: {type(error).__name__}: {error}"
        ) from error
    if out.ndim != 2 or out.shape[0] != shape[0]:
        raise StemlimeError(f"tagger {name} returned an array of shape {out.shape} for {shape[0]} inputs; expected (batch, labels)")
    if n_labels is not None and out.shape[1] != n_labels:
        raise StemlimeError(f"tagger {name} has {n_labels} labels but returned {out.shape[1]} outputs per input")
    if not np.issubdtype(out.dtype, np.number) or np.iscomplexobj(out):
        raise StemlimeError(f"tagger {name} returned {out.dtype} values; expected real numbers")
    if not np.all(np.isfinite(out)):
        raise StemlimeError(f"tagger {name} returned NaN or infinite outputs")
    return out.astype(np.float64)


def output_kind(tagger: Tagger, outputs: np.ndarray) -> str:
    """``probabilities`` or ``scores``: what the tagger declares, else what its outputs look like
    (all within [0, 1]: probabilities)."""
    declared = optional(tagger, "tagger", "outputs")
    if declared is not None:
        if declared not in OUTPUT_KINDS:
            raise UsageError(f"a tagger's outputs are one of {', '.join(OUTPUT_KINDS)}, not {declared!r}")
        return declared
    return "probabilities" if np.all((outputs >= 0) & (outputs <= 1)) else "scores"


def _progress(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if enabled:
        from tqdm.auto import tqdm
    else:  # tqdm.auto warns in a notebook without ipywidgets even when the bar stays hidden
        from tqdm import tqdm
    return tqdm(total=total, unit="mask", desc="tagger", disable=not enabled, leave=False)


def weighted_neighbourhood(
    masks: np.ndarray, predictions: np.ndarray, kernel_width: float = 0.25, distinct_evaluations: int = 0
) -> Neighbourhood:
    """Masks and their tagger outputs with the cosine distances and kernel weights a surrogate is fitted with."""
    distances = cosine_distances_to_all_ones(masks)
    return Neighbourhood(masks, predictions, distances, kernel(distances, kernel_width), distinct_evaluations)


def minimum_distinct_masks(n_components: int) -> int:
    """Distinct masks a surrogate with K weights and an intercept needs: K + 1 (all 2^K for K <= 1)."""
    return min(n_components + 1, 2**n_components)


class Engine:
    """Tagger outputs, neighbourhoods and surrogate fits over fixed components.

    ``component_audio`` is C (K x T float32 at the tagger's rate). ``empty_mask`` decides what
    the tagger hears when every component is off: ``audiolime`` a constant at the minimum
    sample of the full composition (as audioLIME does), ``zeros`` digital silence.
    ``evaluations`` counts the tagger runs made so far (one per distinct new mask).
    """

    def __init__(
        self,
        component_audio: np.ndarray,
        tagger: Tagger,
        surrogate: Surrogate,
        *,
        kernel_width: float = 0.25,
        empty_mask: str = "audiolime",
        batch_size: int = 32,
        tagger_name: str = "the tagger",
        n_labels: int | None = None,
    ):
        check_empty_mask(empty_mask)
        check_kernel_width(kernel_width)
        check_batch_size(batch_size)
        self.component_audio = np.asarray(component_audio, dtype=np.float32)
        self.tagger = tagger
        self.surrogate = surrogate
        self.kernel_width = float(kernel_width)
        self.empty_mask = empty_mask
        self.batch_size = int(batch_size)
        self.tagger_name = tagger_name
        self.n_labels = n_labels
        self.evaluations = 0
        self._memory: dict[bytes, np.ndarray] = {}
        self._empty_value = empty_value(self.component_audio, empty_mask)
        self._staged: Any = _NOT_STAGED  # the components where the tagger runs (its ``stage`` slot), on first use

    @property
    def n_components(self) -> int:
        return self.component_audio.shape[0]

    def with_tagger(self, tagger: Tagger, tagger_name: str = "the tagger") -> "Engine":
        """The same components and settings with another tagger (e.g. a randomized copy), memory empty."""
        return Engine(
            self.component_audio,
            tagger,
            self.surrogate,
            kernel_width=self.kernel_width,
            empty_mask=self.empty_mask,
            batch_size=self.batch_size,
            tagger_name=tagger_name,
            n_labels=self.n_labels,
        )

    # ------------------------------------------------------------------ masks

    def masks(self, samples: int | str, seed: int | None) -> np.ndarray:
        """The neighbourhood's masks (N x K, first row all ones): the surrogate's own sampler
        when it declares one, else LIME's uniform masks (audioLIME's draws for ``seed``)."""
        own = optional(self.surrogate, "surrogate", "sample_masks")
        k = self.n_components
        if isinstance(samples, (int, np.integer)):  # the masks, their outputs and their audio batches
            per_sample = 8 * k + 8 * (self.n_labels or 1) + 16
            check_fits_in_memory(int(samples), per_sample, f"samples={samples} over {k} components (--samples)")
        masks = own(k, samples, seed) if own is not None else sample_masks(k, samples, seed)
        masks = np.asarray(masks, dtype=np.int64)
        if masks.ndim != 2 or masks.shape[1] != k or not np.all(masks[0] == 1):
            raise UsageError(f"surrogate {type(self.surrogate).__name__} drew masks of shape {masks.shape} whose first row is not all ones")
        return masks

    def check_enough(self, masks: np.ndarray, samples: int | str) -> None:
        """Refuse a neighbourhood too small to fit a weight per component (before any tagger run)."""
        distinct = len(np.unique(masks, axis=0))
        needed = minimum_distinct_masks(self.n_components)
        if distinct < needed:
            raise UsageError(
                f"samples={samples} gives only {distinct} distinct mask(s) over {self.n_components} components; a surrogate "
                f"with {self.n_components} weights and an intercept needs at least {needed}. Raise the samples "
                f"(e.g. 1000) or use samples='exhaustive'."
            )

    # ------------------------------------------------------------------ the tagger

    def outputs(self, masks: np.ndarray, progress: bool | None = False) -> np.ndarray:
        """(N, L) tagger outputs for (N, K) masks; each distinct mask not seen before runs once,
        in batches of ``batch_size`` in sorted mask order."""
        masks = np.ascontiguousarray(masks, dtype=np.int64)
        keys = [mask.tobytes() for mask in masks]
        missing = {key: mask for key, mask in zip(keys, masks) if key not in self._memory}
        if missing:
            new = np.unique(np.stack(list(missing.values())), axis=0)
            size = min(len(new), self.batch_size if self._on_host() else max(self.batch_size, self._tagger_batch()))
            check_fits_in_memory(
                size,
                4 * self.component_audio.shape[1],
                f"a batch of {size} perturbations of {self.component_audio.shape[1]} samples (--batch-size)",
            )
            with _progress(len(new), progress) as bar:
                for first in range(0, len(new), size):
                    batch = new[first : first + size]
                    predictions = self._predict(batch)
                    self._memory.update(zip((mask.tobytes() for mask in batch), predictions))
                    self.evaluations += len(batch)
                    bar.update(len(batch))
        return np.stack([self._memory[key] for key in keys])

    def _on_host(self) -> bool:
        """Whether the perturbations are mixed here (numpy) rather than where the tagger runs:
        the tagger declares no ``stage``/``predict_masks`` slots, or its ``stage`` declined."""
        if self._staged is _NOT_STAGED:
            stage = optional(self.tagger, "tagger", "stage")
            composes = stage is not None and optional(self.tagger, "tagger", "predict_masks") is not None
            self._staged = stage(self.component_audio) if composes else None
        return self._staged is None

    def _tagger_batch(self) -> int:
        wanted = optional(self.tagger, "tagger", "mask_batch_size")
        return 0 if wanted is None else check_batch_size(wanted)

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        """(B, L) tagger outputs for (B, K) masks: mixed here and ``predict``-ed, or mixed where
        the tagger runs (``predict_masks``). An all-off mask plays the empty-mask value."""
        shape = (len(batch), self.component_audio.shape[1])
        if self._on_host():
            audio = compose(batch, self.component_audio)
            audio[~batch.any(axis=1)] = self._empty_value
            return run_tagger(self.tagger, audio, self.tagger_name, self.n_labels)
        masks = batch.astype(np.float32)
        return checked_outputs(
            lambda: self.tagger.predict_masks(self._staged, masks, self._empty_value),  # type: ignore[attr-defined]
            shape,
            self.tagger_name,
            self.n_labels,
        )

    def remember(self, masks: np.ndarray, predictions: np.ndarray) -> None:
        """Take outputs computed earlier (e.g. an explanation's neighbourhood) into the memory."""
        for mask, prediction in zip(np.asarray(masks, np.int64), predictions):
            self._memory.setdefault(mask.tobytes(), prediction)

    # ------------------------------------------------------------------ neighbourhood and fits

    def neighbourhood(self, masks: np.ndarray, progress: bool | None = False) -> Neighbourhood:
        """Masks, their tagger outputs, cosine distances and kernel weights."""
        distinct = len(np.unique(masks, axis=0))
        return weighted_neighbourhood(masks, self.outputs(masks, progress), self.kernel_width, distinct)

    def fit(self, neighbourhood: Neighbourhood, label_indices: Sequence[int]) -> dict[int, SurrogateFit]:
        """One surrogate fit per label (output index)."""
        return {
            index: self.surrogate.fit(neighbourhood.masks, neighbourhood.predictions[:, index], neighbourhood.kernel_weights)
            for index in label_indices
        }

    def fit_weights(self, neighbourhood: Neighbourhood, label_indices: Sequence[int]) -> np.ndarray:
        """(labels, K) surrogate weights fitted on ``neighbourhood``, one row per label index."""
        fits = self.fit(neighbourhood, label_indices)
        return np.stack([np.asarray(fits[i].weights, dtype=np.float64) for i in label_indices])

    def weights(self, samples: int | str, seed: int | None, label_indices: Sequence[int]) -> np.ndarray:
        """(labels, K) surrogate weights from a fresh neighbourhood of ``samples`` masks drawn with ``seed``."""
        return self.fit_weights(self.neighbourhood(self.masks(samples, seed)), label_indices)

    # ------------------------------------------------------------------ the explanation

    def explain(
        self,
        parts: Components,
        request: ExplainRequest,
        *,
        tagger_labels: Sequence[str],
        pipeline: dict[str, str],
        sort: str = "signed",
        progress: bool | None = None,
    ) -> Explanation:
        """Explain ``parts`` (this engine's components) for ``request``: draw the masks (or sample
        until the ranking is stable, ``samples="auto"``), run the tagger on the distinct ones, fit
        the surrogate per label (the labels asked for, or the ``top_labels`` most probable on the
        whole excerpt) and order each label's weights (``sort``: signed or absolute)."""
        samples, sampling = request.samples, {}
        if samples == "auto":
            reference = self.outputs(np.ones((1, self.n_components), np.int64))[0]
            indices = resolve_labels(tagger_labels, reference, request.labels, request.top_labels)
            masks, neighbourhood, rounds = sample_until_stable(self, request.seed, indices, progress=progress)
            samples = len(masks)
            sampling = {"mode": "auto", "samples": samples, "stable": rounds[-1]["stable"], "rounds": rounds}
        else:
            masks = self.masks(samples, request.seed)
            if samples != "exhaustive":
                self.check_enough(masks, samples)
            neighbourhood = self.neighbourhood(masks, progress)
            reference = neighbourhood.predictions[0]
            indices = resolve_labels(tagger_labels, reference, request.labels, request.top_labels)
        outputs = neighbourhood.predictions
        labels = {
            tagger_labels[index]: label_explanation(
                fit, index, tagger_labels[index], float(reference[index]), parts.components, sort, float(np.ptp(outputs[:, index]))
            )
            for index, fit in self.fit(neighbourhood, indices).items()
        }
        for label in labels.values():
            if not label.moves:
                warnings.warn(
                    f"the tagger's {label.label} stays at {label.prediction:.4g} whichever components are on "
                    f"(it moves by {label.output_range:.1e}): no component explains it. Is the excerpt silent, "
                    "or the output saturated?"
                )
        return Explanation(
            audio_path=parts.excerpt.path,
            start=parts.excerpt.start,
            duration=parts.excerpt.duration,
            sample_rate=parts.sample_rate,
            pipeline=dict(pipeline),
            samples=samples,
            seed=request.seed,
            sampling=sampling,
            stems_residual_db=parts.stems_residual_db,
            output_kind=output_kind(self.tagger, neighbourhood.predictions),
            components=parts.components,
            component_audio=self.component_audio,
            labels=labels,
            neighbourhood=neighbourhood,
            tagger_labels=list(tagger_labels),
        )


def label_explanation(
    fit: SurrogateFit,
    index: int,
    label: str,
    prediction: float,
    components: Sequence[Component],
    sort: str = "signed",
    output_range: float | None = None,
) -> LabelExplanation:
    """One label's explanation from its surrogate fit: the weights of the components the fit
    chose, largest first (``sort="absolute"``: largest magnitude first)."""
    chosen = [int(i) for i in fit.selected]
    key = (lambda i: -abs(fit.weights[i])) if sort == "absolute" else (lambda i: -fit.weights[i])
    return LabelExplanation(
        label=label,
        index=index,
        prediction=prediction,
        weights={components[i].name: float(fit.weights[i]) for i in sorted(chosen, key=key)},
        intercept=fit.intercept,
        score=fit.score,
        local_prediction=fit.local_prediction,
        rules=describe_rules(getattr(fit, "rules", ()), [c.name for c in components]),
        output_range=output_range,
    )


AUTO_FIRST = 128  # samples in the first round of samples="auto"
AUTO_MOST = 16384  # the most samples "auto" draws (audioLIME's README used 16384 for K = 50)
AUTO_TAU = 0.95  # the Kendall tau over all K components that two consecutive rounds must reach ...
AUTO_CHANGE = 0.1  # ... while no weight moves by more than this share of the largest |weight|


def sample_until_stable(
    engine: Engine,
    seed: int,
    label_indices: Sequence[int],
    *,
    first: int = AUTO_FIRST,
    most: int = AUTO_MOST,
    tau: float = AUTO_TAU,
    change: float = AUTO_CHANGE,
    progress: bool | None = False,
) -> tuple[np.ndarray, Neighbourhood, list[dict[str, Any]]]:
    """``samples="auto"``: double the samples from ``first`` until, for every label, the ranking
    of ALL components agrees with the previous round's to a Kendall tau of at least ``tau`` and
    no weight moved by more than ``change`` x the largest |weight| (or ``most`` is reached).

    Why all components: a criterion on the top few stops early (at K = 50 after 1024 samples)
    while the rest of the ranking is still noise. The round before shares half of this round's
    masks (the draws of a seed extend each other) and has twice its sampling variance, so their
    agreement is a slightly pessimistic estimate of this round's agreement with the ranking of
    unlimited samples (measured in ``make bench``).

    Returns the masks, their neighbourhood and one row per round (``samples``, ``tagger_runs``,
    ``stable``, ``kendall_tau`` and ``max_change``: the worst over the labels). Each round draws
    ``masks(samples, seed)`` anew, so the result equals an explanation with that fixed sample
    count; masks seen in an earlier round are not evaluated again.
    """
    from .ranks import kendall_tau

    samples, previous, rounds = int(first), None, []
    while True:
        masks = engine.masks(samples, seed)
        neighbourhood = engine.neighbourhood(masks, progress)
        weights = engine.fit_weights(neighbourhood, label_indices)
        row: dict[str, Any] = {"samples": samples, "tagger_runs": engine.evaluations, "stable": False}
        if previous is not None:
            agreement = min(_agreement(kendall_tau, w, p) for w, p in zip(weights, previous))
            moved = max(float(np.max(np.abs(w - p)) / max(np.max(np.abs(w)), 1e-12)) for w, p in zip(weights, previous))
            row |= {"kendall_tau": agreement, "max_change": moved, "stable": bool(agreement >= tau and moved <= change)}
        rounds.append(row)
        if row["stable"] or samples >= most:
            return masks, neighbourhood, rounds
        previous, samples = weights, min(2 * samples, most)


def _agreement(kendall_tau, weights: np.ndarray, previous: np.ndarray) -> float:
    """Kendall tau of two rounds' weights: 1 when they are equal (e.g. all zero), 0 when only one
    of them ranks anything (one component: nothing to rank, 1)."""
    if len(weights) < 2 or np.array_equal(weights, previous):
        return 1.0
    value = kendall_tau(weights, previous)
    return 0.0 if np.isnan(value) else value


def empty_value(component_audio: np.ndarray, empty_mask: str) -> float:
    """The value every sample takes when all of ``component_audio`` (K x T) is off: for
    ``audiolime`` the minimum sample of the full composition (as audioLIME does), for ``zeros`` 0."""
    return 0.0 if empty_mask == "zeros" else float(np.asarray(component_audio, np.float32).sum(axis=0).min())


def check_empty_mask(empty_mask: str) -> str:
    """What the all-off mask plays: one of ``EMPTY_MASK_MODES``."""
    return one_of(empty_mask, "empty_mask", EMPTY_MASK_MODES)


def check_batch_size(batch_size: Any) -> int:
    """Perturbations per tagger call: a whole number of at least 1."""
    return whole_number(batch_size, "batch_size", minimum=1, flag="--batch-size")


def check_kernel_width(kernel_width: Any) -> float:
    """The kernel width must be a positive finite number (a distance scale, unitless)."""
    return positive_number(kernel_width, "kernel_width", hint=" (audioLIME: 0.25)")
