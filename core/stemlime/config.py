"""Pipeline files (TOML): the four components as tables or spec strings, plus explain defaults.

    [tagger]
    name = "musicnn"
    variant = "MSD_musicnn"

    [separator]
    name = "oracle"

    [segmenter]            # or: segmenter = "uniform,n=4"
    name = "whole"

    [explain]
    samples = 1000
    seed = 0
    top_labels = 3
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMPONENT_KEYS = ("tagger", "separator", "segmenter", "surrogate")
PIPELINE_KEYS = ("batch_size", "kernel_width", "sort", "empty_mask")
EXPLAIN_KEYS = ("labels", "top_labels", "start", "duration", "samples", "seed", "pad") + PIPELINE_KEYS


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check a pipeline file; returns {component: spec, 'explain': {...}}."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"pipeline file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"pipeline file {path} is not valid TOML: {error}") from None
    unknown = set(data) - set(COMPONENT_KEYS) - {"explain"}
    if unknown:
        raise UsageError(f"pipeline file {path}: unknown section(s) {sorted(unknown)}; allowed: {', '.join(COMPONENT_KEYS)}, explain")
    explain = data.get("explain", {})
    bad = set(explain) - set(EXPLAIN_KEYS)
    if bad:
        raise UsageError(f"pipeline file {path}: unknown [explain] key(s) {sorted(bad)}; allowed: {', '.join(EXPLAIN_KEYS)}")
    return {key: data[key] for key in COMPONENT_KEYS if key in data} | {"explain": dict(explain)}
