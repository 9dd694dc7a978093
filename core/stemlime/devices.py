"""Where a plugin's network runs: one choice of device for every PyTorch plugin.

The core does not depend on PyTorch: nothing in it imports this module. A plugin that runs a
torch network offers the option ``DEVICE_OPTION`` and turns the user's word into a
``torch.device`` with :func:`torch_device`, which imports torch when it is called.

    from stemlime.devices import DEVICE_OPTION, torch_device
    Option(...) ... options=[DEVICE_OPTION, ...]
    self.device = torch_device(device, owner="musicnn")
"""

from __future__ import annotations

from typing import Any

from .errors import UsageError
from .registry import Option

DEVICES = ("auto", "cpu", "cuda")
DEVICE_OPTION = Option("device", "where the network runs (auto: cuda when available, else cpu)", "str", "auto", DEVICES)


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
            raise UsageError(f"{owner}: device=cuda was asked for, but PyTorch {torch.__version__} sees no CUDA GPU here; "
                             "use device=cpu or device=auto")
        if exact:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(device)
