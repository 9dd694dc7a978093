"""The options of the ``hf`` and ``torch`` taggers, declared once (``stemlime plugins`` lists them from
here; neither torch nor transformers is imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from stemlime.plugin import compose_option, device_option, option, path_or_none, whole_number

HF_OUTPUTS = ("auto", "sigmoid", "softmax", "none")
TORCH_OUTPUTS = ("sigmoid", "softmax", "none")


def _batch_size(instance: Any, attribute: Any, value: Any) -> None:
    whole_number(value, "batch_size", minimum=1)


@attrs.frozen
class HFOptions:
    owner = "tagger hf"
    model: str | None = option(None, "hub name (needs the network) or folder written by save_pretrained (offline)")
    device: str = device_option()
    batch_size: int = option(8, "windows per network call", validator=_batch_size)
    compose: str = compose_option()
    revision: str | None = option(None, "hub revision (branch, tag or commit) of a hub model")
    output: str = option(
        "auto",
        "auto: sigmoid for multi-label models (problem_type), else softmax, as transformers' pipeline; or sigmoid, softmax, none (logits)",
        choices=HF_OUTPUTS,
    )


@attrs.frozen
class TorchModuleOptions:
    owner = "tagger torch"
    module: str | None = option(None, "MODULE:FACTORY: an nn.Module, or a class or function returning one")
    path: Path | None = option(None, "folder added to the import path before importing MODULE", converter=path_or_none)
    checkpoint: Path | None = option(
        None, "weights: .safetensors, or a torch.save'd state dict (read with weights_only=True)", converter=path_or_none
    )
    labels: str | None = option(
        None, "FILE with one label per line, or names separated by ';' (default: the module's labels attribute, else 0, 1, ...)"
    )
    sample_rate: int | None = option(None, "sample rate in Hz the module expects (default: its sample_rate attribute)")
    input_seconds: float | None = option(
        None, "fixed input length in seconds: longer audio is cut into such windows and averaged (default: any length)"
    )
    output: str = option("none", "sigmoid, softmax, or none (the module's outputs as they are)", choices=TORCH_OUTPUTS)
    device: str = device_option()
    batch_size: int = option(16, "windows per module call", validator=_batch_size)
    compose: str = compose_option()
