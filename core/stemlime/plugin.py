"""The plugin SDK: everything a stemlime plugin (or an application built on stemlime) may import.

Plugins import from here and nowhere else in stemlime (a test checks the plugins of this
repository); the rest of the core may change between versions, this surface changes with
notice. Registering and declaring::

    from stemlime.plugin import Factory, Option, hookimpl

    @hookimpl
    def stemlime_separators(register):
        register(Factory(name="hpss", description="...", build=HpssSeparator, options=options_of(HpssOptions)))

Names are grouped by job below. Modules that pull in heavy libraries (the model store's
downloads, the report's templates) are imported only when one of their names is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .components import Component, Excerpt, Segment
from .errors import AudioError, ModelFilesError, StemlimeError, UsageError
from .hookspecs import hookimpl
from .declarations import Command, Factory, Option, option, options_of
from .registry import get_registry
from .validators import boolean, non_negative_number, number, one_of, positive_number, whole_number
from .wording import closest_match, one_line, plain_text, plural

# name -> module it comes from, imported on first use (PEP 562)
_LAZY = {
    # audio: numpy in, numpy out (mono float32; seconds and Hz)
    "load_audio": "audio",
    "write_wav": "audio",
    "resample": "audio",
    "to_mono": "audio",
    "fit_length": "audio",
    "as_mix": "audio",
    "as_sample_rate": "audio",
    "check_finite": "audio",
    "audio_info": "audio",
    # files and folders written whole (stemlime.fs) and safe names
    "ResultFolder": "fs",
    "ResumableFolder": "fs",
    "StagedFolder": "fs",
    "check_destination": "fs",
    "folder_lock": "fs",
    "first_use": "fs",
    "LOCK_NAME": "fs",
    "write_atomically": "fs",
    "write_text_atomically": "fs",
    "file_problem": "fs",
    "safe_name": "naming",
    "safe_names": "naming",
    "captured_stderr": "console",
    # records of result folders, and strict JSON
    "read_json": "records",
    "write_json": "records",
    "json_text": "records",
    "read_explanation": "records",
    "ExplanationRecord": "records",
    # devices and CPU workers of torch plugins (torch is imported only when these are called)
    "DEVICES": "devices",
    "DEVICE_OPTION": "devices",
    "check_device": "devices",
    "torch_device": "devices",
    "device_option": "devices",
    "threads_option": "devices",
    "compose_option": "devices",
    "COMPOSE": "devices",
    "composes_on_device": "devices",
    "path_or_none": "devices",
    "CpuWorkers": "workers",
    "cpu_workers": "workers",
    "one_blas_thread": "workers",
    "per_thread_widths": "workers",
    "torch_threads": "workers",
    # model files: declared, fetched, built, verified
    "ModelFiles": "models",
    "ModelStore": "models",
    "Recipe": "models",
    "WheelSource": "models",
    "ArchiveSource": "models",
    "TFCheckpoint": "models",
    "load_tensors": "models",
    "model_path": "models",
    "model_store": "models",
    "sha256_of": "verified_copy",
    "CheckpointError": "tfcheckpoint",
    "list_checkpoint": "tfcheckpoint",
    "array_digest": "stemcache",
    # taggers: windows of a fixed-length model, and user code
    "cut_windows": "tagging",
    "mean_over_windows": "tagging",
    "import_attribute": "builtins.python_tagger",
    "parse_labels": "builtins.python_tagger",
    # stems that add up to the mix: the difference as a stem, and how close they come (dB)
    "rest_stem": "residual",
    "stems_residual_db": "residual",
    # notes of a separator that transcribes
    "Note": "midi",
    "Part": "midi",
    # specs, and the command line's way of running a command
    "as_spec": "specs",
    "run_guarded": "cli",
    # pages of a plugin's own result folders (stemlime_pages hook)
    "Page": "report",
    "Media": "report",
    "render_report": "report",
    "explanation_card": "report.pages",
    "count_bars": "report.charts",
    "number_text": "report.charts",
}
_RENAMED = {"number_text": "number"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stemlime.plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"stemlime.{module}"), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = sorted(
    [
        "AudioError",
        "Command",
        "Component",
        "Excerpt",
        "Factory",
        "ModelFilesError",
        "Option",
        "Segment",
        "StemlimeError",
        "UsageError",
        "boolean",
        "closest_match",
        "get_registry",
        "hookimpl",
        "non_negative_number",
        "number",
        "one_of",
        "option",
        "options_of",
        "plural",
        "positive_number",
        "whole_number",
        *_LAZY,
    ]
)
