"""The ``torch`` tagger: a user's PyTorch module (waveform in) without writing a tagger class.

``torch,module=MODULE:FACTORY[,path=DIR,checkpoint=FILE,labels=FILE,sample_rate=HZ,input_seconds=S,output=sigmoid|softmax|none]``

``FACTORY`` is imported the way the ``python`` tagger imports its object (``path`` goes first on
the import path): an ``nn.Module`` instance, or a class or function called with no arguments
that returns one. The module takes a ``(batch, samples)`` float32 tensor of mono audio at
``sample_rate`` Hz and returns ``(batch, labels)`` (or ``(batch,)`` for one label). Its
weights come from ``checkpoint``: a ``.safetensors`` file, or a ``torch.save``'d state dict
read with ``torch.load(weights_only=True)`` (never unpickling code). ``output`` turns logits
into probabilities (default ``none``: the module's outputs as they are).

The labels (``labels=FILE``, one per line, or ``a;b;c``; else the module's ``labels``
attribute; else ``0``, ``1``, ...), the sample rate and ``input_seconds`` may also be attributes
of the module or of the factory. The module runs once on a silent window when the tagger is
built, so that an output whose shape does not match the labels is reported before any
separation starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemlime.plugin import as_sample_rate
from stemlime.plugin import import_attribute, parse_labels
from stemlime.plugin import COMPOSE, composes_on_device, one_of, torch_device
from stemlime.plugin import one_line, whole_number
from stemlime.plugin import ModelFilesError, StemlimeError, UsageError

from .options import TorchModuleOptions
from .batching import ACTIVATIONS, WindowedTagger, activate, window_samples

OWNER = "tagger torch"


def read_labels(text: str) -> list[str]:
    """``labels=``: a file with one label per line (``@FILE`` too), or names separated by ';'."""
    path = Path(text.removeprefix("@")).expanduser()
    if path.is_file():
        return parse_labels(f"@{path}", OWNER)
    if ";" in text:
        return parse_labels(text, OWNER)
    raise UsageError(
        f"{OWNER}: labels={text}: no such file. Give a file with one label per line, or the names separated by ';' (labels=calm;energetic)"
    )


def _load_failure(error: Exception) -> str:
    """What torch.load's error says about the file, without its advice to load with
    weights_only=False: that runs the file's pickled code, unsafe for a file one did not make."""
    text = one_line(str(error))
    if "WeightsUnpickler error:" in text:  # the weights-only unpickler met something that is not a tensor
        reason = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation")[0].strip()
        return f"it holds more than tensors ({reason})"
    first = re.split(r"(?<=[.!?]) ", text, maxsplit=1)[0]
    return first.rstrip(".") if "weights_only" not in first else "it is not a file torch.save wrote"


def load_state_dict(checkpoint: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or of a ``torch.save``'d state dict (weights only, no pickled code).

    A dict whose ``state_dict`` entry holds the tensors (PyTorch Lightning's checkpoints) gives that entry.
    """
    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise UsageError(f"{OWNER}: checkpoint={checkpoint}: no such file")
    if checkpoint.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(checkpoint))
        except Exception as error:  # safetensors raises its own SafetensorError for damaged files
            raise ModelFilesError(f"{OWNER}: cannot read {checkpoint} as safetensors: {error}") from None
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle.UnpicklingError for objects beyond tensors, RuntimeError for a damaged file
        raise ModelFilesError(
            f"{OWNER}: cannot read {checkpoint} with torch.load(weights_only=True): {_load_failure(error)}. "
            "stemlime loads only tensors, never pickled code (so it does not load this file any other way): save the "
            "weights with torch.save(module.state_dict(), FILE) or safetensors.torch.save_file(module.state_dict(), FILE)."
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFilesError(
            f"{OWNER}: {checkpoint} holds a {type(state).__name__}, not a state dict "
            "(names -> tensors): save it with torch.save(module.state_dict(), FILE)"
        )
    return state


def _build_module(target: Any, module: str) -> torch.nn.Module:
    if isinstance(target, torch.nn.Module):
        return target
    if not callable(target):
        raise UsageError(f"{OWNER}: module={module} is neither a torch.nn.Module nor a class or function that returns one")
    try:
        network = target()
    except Exception as error:
        raise StemlimeError(f"{OWNER}: calling {module}() failed: {type(error).__name__}: {error}") from error
    if not isinstance(network, torch.nn.Module):
        raise UsageError(f"{OWNER}: {module}() returned a {type(network).__name__}, not a torch.nn.Module")
    return network


def _load_weights(network: torch.nn.Module, checkpoint: Path) -> None:
    state = load_state_dict(checkpoint)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:  # missing, unexpected or mis-shaped tensors: torch lists them
        reason = " ".join(str(error).split())  # torch lists the tensors on several lines
        raise ModelFilesError(f"{OWNER}: {checkpoint} does not fit the module: {reason}") from None


def _attribute(name: str, *owners: Any) -> Any:
    """The user's convention of the python tagger: the value may be an attribute of the module or its factory."""
    return next((getattr(o, name) for o in owners if getattr(o, name, None) is not None), None)


class TorchModuleTagger(WindowedTagger):
    """A PyTorch module as a stemlime tagger (see the module docstring)."""

    pad_short = True  # a module with a fixed input length gets it

    def __init__(
        self,
        network: torch.nn.Module,
        labels: list[str] | None,
        sample_rate: int,
        input_seconds: float | None,
        output: str = "none",
        device: str = "auto",
        batch_size: int = 16,
        name: str = "torch",
        compose: str = "auto",
    ):
        if output not in ACTIVATIONS:
            raise UsageError(f"{OWNER}: output must be one of {', '.join(ACTIVATIONS)}, got {output!r}")
        if input_seconds is not None and not (isinstance(input_seconds, (int, float)) and 0 < input_seconds < 1e6):
            raise UsageError(f"{OWNER}: input_seconds must be a positive number of seconds, got {input_seconds!r}")
        self.name = name
        self.sample_rate = as_sample_rate(sample_rate)
        self.input_seconds = None if input_seconds is None else float(input_seconds)
        self.output = output
        # probabilities after an activation; undeclared (None: judged from the values) for raw outputs
        self.outputs = None if output == "none" else "probabilities"
        self.batch_size = whole_number(batch_size, "batch_size", minimum=1)
        self.device = torch_device(device, OWNER)
        self.compose = "device" if composes_on_device(one_of(compose, "compose", COMPOSE), self.device) else "host"
        self.network = network.to(self.device).eval()
        self.labels = self._checked_labels(labels)

    def _checked_labels(self, labels: list[str] | None) -> list[str]:
        """Run the module on one silent window: its output must be (1, L) with L the number of labels."""
        length = window_samples(self.input_seconds, self.sample_rate) or self.sample_rate
        try:
            out = self._forward(np.zeros((1, length), np.float32))
        except Exception as error:
            raise StemlimeError(
                f"{OWNER}: {self.name} failed on one silent input of {length} samples "
                f"((1, {length}) float32): {type(error).__name__}: {error}"
            ) from error
        if out.ndim != 2 or out.shape[0] != 1:
            raise StemlimeError(
                f"{OWNER}: {self.name} returned outputs of shape {tuple(out.shape)} for a batch of one "
                f"input; a tagger module returns (batch, labels)"
            )
        if labels is None:
            return [str(i) for i in range(out.shape[1])]
        labels = [str(label) for label in labels]
        if len(set(labels)) != len(labels):
            raise UsageError(f"{OWNER}: the labels of {self.name} hold duplicate names")
        if out.shape[1] != len(labels):
            raise UsageError(
                f"{OWNER}: {self.name} returns {out.shape[1]} outputs per input, but its labels name "
                f"{len(labels)} ({', '.join(labels[:5])}{', ...' if len(labels) > 5 else ''}): "
                "give one label per output"
            )
        return labels

    def _forward(self, windows: np.ndarray) -> np.ndarray:
        return self._forward_tensor(torch.from_numpy(np.ascontiguousarray(windows)).to(self.device)).cpu().numpy()

    def _forward_tensor(self, windows: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.network(windows)
            if not isinstance(out, torch.Tensor):
                raise StemlimeError(f"{OWNER}: {self.name} returned a {type(out).__name__}, not a tensor")
            if out.ndim == 1:
                out = out[:, None]  # one output per input: one label
            return activate(out.float(), self.output)

    def __repr__(self) -> str:
        return f"TorchModuleTagger({self.name!r}, sample_rate={self.sample_rate}, output={self.output!r})"


def build_torch_tagger(variant: str | None = None, **options: Any) -> TorchModuleTagger:
    """The ``torch`` tagger from its spec options (:class:`.options.TorchModuleOptions`; see the module docstring)."""
    given = TorchModuleOptions(**options)
    module, path, checkpoint, labels = given.module, given.path, given.checkpoint, given.labels
    sample_rate, input_seconds, output, device, batch_size = (
        given.sample_rate,
        given.input_seconds,
        given.output,
        given.device,
        given.batch_size,
    )
    if module is None:
        raise UsageError(f"{OWNER} needs module=MODULE:FACTORY, e.g. 'torch,module=mynet:build,path=.,sample_rate=16000'")
    target = import_attribute(module, path, owner=OWNER, option="module")
    network = _build_module(target, module)
    if checkpoint is not None:
        _load_weights(network, checkpoint)
    label_list = read_labels(labels) if labels else _attribute("labels", network, target)
    rate = sample_rate if sample_rate is not None else _attribute("sample_rate", network, target)
    if rate is None:
        raise UsageError(f"{OWNER}: {module} has no sample_rate attribute; give sample_rate=HZ in the spec")
    seconds = input_seconds if input_seconds is not None else _attribute("input_seconds", network, target)
    return TorchModuleTagger(
        network,
        label_list,
        rate,
        seconds,
        output=output,
        device=device,
        batch_size=batch_size,
        name=f"torch:{module}",
        compose=given.compose,
    )
