"""A Cerberus model folder: ``weights.safetensors`` + ``config.json``, and how it is checked.

``config.json`` holds the architecture (``model``: instruments, STFT, sizes), the training
settings and data summary (``training``), validation metrics (``metrics``), the decoding
thresholds of the transcription (``transcription``, chosen on validation tracks; absent in
models written before them) and the SHA-256 of the weights. Loading checks all of it: the format, every architecture field, the weights' hash,
and every tensor's name, shape and dtype against the ones the architecture implies. Nothing
here imports torch, so ``stemlime models list`` checks a folder cheaply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from stemlime.plugin import ModelFilesError

from .instruments import DRUM_CLASSES, DRUMS, REST, SHORT_NAMES, pitched, variant_name

FORMAT = "stemlime-cerberus/1"
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
FILES = (WEIGHTS, CONFIG)
MASKS = ("softmax", "sigmoid")
# "blstm": the paper's trunk, the BLSTM on the normalised spectrogram; "encoded": a linear encoder of
# ``hidden`` units (batch norm, tanh) before the BLSTM and a decoder layer of 2 * ``hidden`` units
# (batch norm, ReLU) after it that also reads the encoder's output (the skip of Open-Unmix)
TRUNKS = ("blstm", "encoded")
# the number format a training step's network runs in (``torch.autocast``): "bfloat16" computes the
# matrix products and the LSTM in bfloat16 and keeps the weights, the STFTs and the losses in float32
PRECISIONS = ("float32", "bfloat16")


def _positive(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive whole number, got {value!r}")


def _instruments(instance, attribute, value) -> None:
    if not value or len(set(value)) != len(value) or any(name not in SHORT_NAMES for name in value):
        raise ValueError(f"instruments must be distinct names from {', '.join(SHORT_NAMES)}, got {list(value)!r}")


@attrs.frozen
class CerberusConfig:
    """The architecture of a Cerberus network (Manilow, Seetharaman & Pardo, ICASSP 2020).

    Mono audio at ``sample_rate`` Hz -> STFT (``n_fft``, ``hop`` samples, Hann window) ->
    log magnitude (dB) -> batch norm over frequency -> ``layers`` bidirectional LSTM layers of
    ``hidden`` units (``dropout`` between them; ``trunk="encoded"`` puts a linear encoder of
    ``hidden`` units before them and a decoder layer after them that also reads the encoder's
    output) -> three heads per frame: masks (``masks``: a
    softmax over the instruments and ``rest`` per time-frequency bin, or a sigmoid per source),
    a deep-clustering embedding of ``embedding`` dimensions per bin (0: no such head), and a
    piano roll (sigmoid) of ``pitches`` keys from MIDI ``lowest_pitch`` per pitched instrument,
    plus onsets of ``drum_classes`` when the set has drums.
    """

    instruments: tuple[str, ...] = attrs.field(converter=tuple, validator=_instruments)
    sample_rate: int = attrs.field(default=16000, validator=_positive)
    n_fft: int = attrs.field(default=1024, validator=_positive)
    hop: int = attrs.field(default=256, validator=_positive)
    hidden: int = attrs.field(default=300, validator=_positive)
    layers: int = attrs.field(default=4, validator=_positive)
    dropout: float = attrs.field(default=0.3, converter=float)
    embedding: int = attrs.field(default=20)
    lowest_pitch: int = attrs.field(default=21, validator=_positive)
    pitches: int = attrs.field(default=88, validator=_positive)
    drum_classes: tuple[str, ...] = attrs.field(default=tuple(DRUM_CLASSES), converter=tuple)
    # "softmax": the sources' masks sum to one in every bin; "sigmoid": each in [0, 1] on its own
    masks: str = attrs.field(default="softmax", validator=attrs.validators.in_(MASKS))
    trunk: str = attrs.field(default="blstm", validator=attrs.validators.in_(TRUNKS))

    @embedding.validator
    def _check_embedding(self, attribute, value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"embedding must be a whole number >= 0, got {value!r}")

    @drum_classes.validator
    def _check_drum_classes(self, attribute, value) -> None:
        unknown = [name for name in value if name not in DRUM_CLASSES]
        if unknown:
            raise ValueError(f"unknown drum classes {unknown}; known: {', '.join(DRUM_CLASSES)}")

    @property
    def variant(self) -> str:
        return variant_name(self.instruments)

    @property
    def sources(self) -> tuple[str, ...]:
        """What the masks split the mix into: the instruments, then ``rest``."""
        return (*self.instruments, REST)

    @property
    def network(self) -> str:
        """The trunk in words: ``"2 x 128 BLSTM"``, and ``" with encoder and decoder"`` for the encoded trunk."""
        return f"{self.layers} x {self.hidden} BLSTM" + (" with encoder and decoder" if self.trunk == "encoded" else "")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def pitched(self) -> tuple[str, ...]:
        return pitched(self.instruments)

    @property
    def roll_size(self) -> int:
        """Transcription outputs per frame: 88 keys per pitched instrument, then the drum classes."""
        return self.pitches * len(self.pitched) + (len(self.drum_classes) if DRUMS in self.instruments else 0)

    def to_dict(self) -> dict[str, Any]:
        return {field.name: list(v) if isinstance(v := getattr(self, field.name), tuple) else v for field in attrs.fields(type(self))}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "CerberusConfig":
        names = {field.name for field in attrs.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        return cls(**values)


def expected_tensors(config: CerberusConfig) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every tensor of the network's state: name -> (shape, dtype), as the architecture implies."""
    bins, hidden, both = config.bins, config.hidden, 2 * config.hidden
    shapes: dict[str, tuple[tuple[int, ...], str]] = {
        f"norm.{name}": ((bins,), "F32") for name in ("weight", "bias", "running_mean", "running_var")
    }
    shapes["norm.num_batches_tracked"] = ((), "I64")
    encoded = config.trunk == "encoded"
    if encoded:
        shapes["encoder.weight"] = ((hidden, bins), "F32")
        shapes["decoder.weight"] = ((both, both + hidden), "F32")
        for name, size in (("encoder_norm", hidden), ("decoder_norm", both)):
            shapes |= {f"{name}.{part}": ((size,), "F32") for part in ("weight", "bias", "running_mean", "running_var")}
            shapes[f"{name}.num_batches_tracked"] = ((), "I64")
    for layer in range(config.layers):
        inputs = (hidden if encoded else bins) if layer == 0 else both
        for suffix in ("", "_reverse"):
            shapes[f"body.weight_ih_l{layer}{suffix}"] = ((4 * hidden, inputs), "F32")
            shapes[f"body.weight_hh_l{layer}{suffix}"] = ((4 * hidden, hidden), "F32")
            shapes[f"body.bias_ih_l{layer}{suffix}"] = ((4 * hidden,), "F32")
            shapes[f"body.bias_hh_l{layer}{suffix}"] = ((4 * hidden,), "F32")
    heads = {"mask": bins * len(config.sources), "embedding": bins * config.embedding, "transcription": config.roll_size}
    for head, outputs in heads.items():
        if outputs:
            shapes[f"{head}.weight"] = ((outputs, both), "F32")
            shapes[f"{head}.bias"] = ((outputs,), "F32")
    return shapes


def _refuse(folder: Path, problem: str, hint: str) -> ModelFilesError:
    return ModelFilesError(f"the Cerberus model folder {folder} {problem}.\n{hint}")


def read_config(folder: Path, hint: str = "") -> tuple[CerberusConfig, dict[str, Any]]:
    """The architecture and the whole ``config.json`` of a model folder; ModelFilesError saying
    what is wrong (and ``hint``: how to get a good folder) otherwise."""
    folder = Path(folder)
    path = folder / CONFIG
    if not folder.is_dir():
        raise _refuse(folder, "does not exist", hint)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise _refuse(folder, f"lacks {', '.join(missing)} (a model folder holds {' and '.join(FILES)})", hint)
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _refuse(folder, f"has an unreadable {CONFIG} ({error})", hint) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise _refuse(folder, f"has a {CONFIG} of format {found!r}, not {FORMAT!r}", hint)
    try:
        config = CerberusConfig.from_dict(document.get("model") or {})
    except (TypeError, ValueError) as error:
        raise _refuse(folder, f"has a {CONFIG} whose model section is invalid ({error})", hint) from None
    return config, document


def check_folder(folder: Path, hint: str = "") -> tuple[CerberusConfig, dict[str, Any]]:
    """:func:`read_config`, then the weights: their SHA-256 as ``config.json`` records it, and
    every tensor's name, shape and dtype (from the safetensors header; no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    from stemlime.plugin import sha256_of

    config, document = read_config(folder, hint)
    weights = Path(folder) / WEIGHTS
    if sha256_of(weights) != document.get("weights_sha256"):
        raise _refuse(folder, f"has a {WEIGHTS} that is damaged or not the one {CONFIG} was written for (SHA-256 differs)", hint)
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            found = {name: (tuple(handle.get_slice(name).get_shape()), handle.get_slice(name).get_dtype()) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise _refuse(folder, f"has an unreadable {WEIGHTS} ({error})", hint) from None
    expected = expected_tensors(config)
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
        details = "; ".join(
            part
            for part in (
                f"missing {missing[:3]}" if missing else "",
                f"unexpected {extra[:3]}" if extra else "",
                f"{wrong[0]} is {found[wrong[0]]}, expected {expected[wrong[0]]}" if wrong else "",
            )
            if part
        )
        raise _refuse(folder, f"has weights that do not fit its {CONFIG} ({details})", hint)
    return config, document


def write_config(
    folder: Path,
    config: CerberusConfig,
    weights_sha256: str,
    training: dict[str, Any],
    metrics: dict[str, Any],
    transcription: dict[str, Any] | None = None,
) -> None:
    """Write ``config.json`` (atomically) for the weights already in ``folder``; ``transcription``
    holds the decoding thresholds chosen on validation ({"thresholds": {instrument: t}, ...})."""
    from stemlime.plugin import write_atomically

    document = {
        "format": FORMAT,
        "variant": config.variant,
        "model": config.to_dict(),
        "weights_sha256": weights_sha256,
        "training": training,
        "metrics": metrics,
        **({"transcription": transcription} if transcription else {}),
    }
    write_atomically(Path(folder) / CONFIG, lambda path: path.write_text(json.dumps(document, indent=1) + "\n"))
