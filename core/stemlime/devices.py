"""Where a plugin's network runs: one choice of device for every PyTorch plugin.

The core does not depend on PyTorch: nothing in it imports torch here at import time. A plugin
that runs a torch network declares the field ``device: str = device_option()`` in its options
class and turns the user's word into a ``torch.device`` with :func:`torch_device`, which
imports torch when it is called.

    from stemlime.plugin import device_option, torch_device
    @attrs.frozen
    class MyOptions:
        device: str = device_option()
    self.device = torch_device(options.device, owner="musicnn")
"""

from __future__ import annotations

from typing import Any

from .errors import UsageError
from .declarations import Option, option

DEVICES = ("auto", "cpu", "cuda")
DEVICE_HELP = "where the network runs (auto: cuda when available, else cpu)"
DEVICE_OPTION = Option("device", DEVICE_HELP, "str", "auto", DEVICES)


def device_option() -> Any:
    """The ``device`` field of a torch component's options class (see ``stemlime.registry.option``):
    one of ``DEVICES``, default ``auto``."""
    return option("auto", DEVICE_HELP, choices=DEVICES)


COMPOSE = ("auto", "device", "host")
COMPOSE_HELP = (
    "where an explanation's perturbations are mixed: device (the components go to the network's device "
    "once, each batch is mixed there), host (numpy, sent per batch), auto (device on a GPU, host on a CPU)"
)


def compose_option() -> Any:
    """The ``compose`` field of a torch tagger's options class: where the engine's perturbations
    are mixed (the tagger's ``stage``/``predict_masks`` slots); one of ``COMPOSE``, default auto."""
    return option("auto", COMPOSE_HELP, choices=COMPOSE)


def composes_on_device(compose: str, device: Any) -> bool:
    """Whether a tagger with option ``compose`` on the torch ``device`` mixes perturbations there."""
    return compose == "device" or (compose == "auto" and getattr(device, "type", device) != "cpu")


def threads_option(what: str) -> Any:
    """The ``threads`` field of a torch component's options class: 0 (PyTorch's thread count) or
    a count of CPU worker threads, each running ``what`` on one core."""

    def whole(instance: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(
                f"{getattr(instance, 'owner', 'the model')}: threads must be 0 (PyTorch's thread count) or a positive count, got {value!r}"
            )

    return option(0, f"CPU worker threads, each running {what} on one core (0: PyTorch's thread count)", validator=whole)


def path_or_none(value: Any) -> Any:
    """A path option's value as a ``pathlib.Path`` (``~`` expanded), None kept."""
    from pathlib import Path

    return None if value is None else Path(value).expanduser()


def check_device(device: str, owner: str = "the model") -> str:
    """``device`` if it is one of ``DEVICES`` (a usage error naming ``owner`` otherwise); no torch needed."""
    if device not in DEVICES:
        raise UsageError(f"{owner}: device={device!r} is not one of {', '.join(DEVICES)}")
    return device


def torch_device(device: str = "auto", owner: str = "the model", exact: bool = True) -> Any:
    """The ``torch.device`` for ``auto`` (CUDA when PyTorch sees a GPU, else the CPU), ``cpu`` or ``cuda``.

    ``device=cuda`` without a GPU is a usage error that says what to use instead. With ``exact``
    (the default) TF32 matmuls and convolutions are switched off on CUDA: they cost the 1e-4
    agreement of ported models with their references.
    """
    import torch

    check_device(device, owner)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"{owner}: device=cuda was asked for, but PyTorch {torch.__version__} sees no CUDA GPU here; "
                "ask for cpu or auto instead (device=cpu in a spec, --device cpu)"
            )
        if exact:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(device)
