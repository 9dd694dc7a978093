"""Pipeline files (TOML): the four components as tables or spec strings, plus explain defaults.

[tagger]
name = "musicnn"
variant = "MSD_musicnn"

[separator]
name = "oracle"

[segmenter]            # or: segmenter = "uniform,n=4"
name = "whole"

# or both in one line, instead of [separator] and [segmenter]:
# components = "oracle x uniform,n=4"

[explain]
samples = 1000
seed = 0
top_labels = 3
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMPONENT_KEYS = ("tagger", "separator", "segmenter", "surrogate")
PIPELINE_KEYS = ("batch_size", "kernel_width", "sort", "empty_mask", "stems_from")
CHECKS = ("fidelity", "stability", "sanity", "complexity")  # stemlime.checks; named here so the CLI needs no import
EXPLAIN_KEYS = ("labels", "top_labels", "start", "duration", "samples", "seed", "pad", "checks") + PIPELINE_KEYS
EXPLAIN_TYPES = {  # what each [explain] key may hold in TOML
    "labels": (str, int, list),
    "top_labels": (int,),
    "start": (int, float),
    "duration": (int, float),
    "samples": (int, str),
    "seed": (int,),
    "pad": (bool,),
    "checks": (str, list),
    "batch_size": (int,),
    "kernel_width": (int, float),
    "sort": (str,),
    "empty_mask": (str,),
    "stems_from": (str,),
}
COMBINED_KEY = "components"  # "SEPARATOR x SEGMENTER": what the components are, switched in one line
_CROSS = re.compile(r"\s+x\s+")


def split_components(text: Any, path: str | Path = "the pipeline file") -> dict[str, str]:
    """``"oracle x uniform,n=4"`` -> ``{"separator": "oracle", "segmenter": "uniform,n=4"}``."""
    parts = _CROSS.split(text.strip()) if isinstance(text, str) else []
    if len(parts) != 2 or not all(parts):
        raise UsageError(
            f'{path}: {COMBINED_KEY} = {text!r} should read "SEPARATOR x SEGMENTER" (spaces around the x), '
            f'e.g. {COMBINED_KEY} = "oracle x uniform,n=4" or "none x onsets"'
        )
    return {"separator": parts[0], "segmenter": parts[1]}


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and check a pipeline file; returns {component: spec, 'explain': {...}}."""
    from .fs import file_problem

    problem = file_problem(path, "pipeline file")
    if problem:
        raise UsageError(f"{problem} (--config)")
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise UsageError(f"pipeline file {path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"pipeline file {path} is not valid TOML: {error}") from None
    unknown = set(data) - set(COMPONENT_KEYS) - {"explain", COMBINED_KEY}
    if unknown:
        raise UsageError(
            f"pipeline file {path}: unknown section(s) {sorted(unknown)}; allowed: {', '.join(COMPONENT_KEYS)}, {COMBINED_KEY}, explain"
        )
    if COMBINED_KEY in data:
        both = [key for key in ("separator", "segmenter") if key in data]
        if both:
            raise UsageError(
                f"pipeline file {path} gives both {COMBINED_KEY} = {data[COMBINED_KEY]!r} and {' and '.join(both)}: "
                f"{COMBINED_KEY} already names the separator and the segmenter; keep one of the two forms"
            )
        data = {key: value for key, value in data.items() if key != COMBINED_KEY} | split_components(
            data[COMBINED_KEY], f"pipeline file {path}"
        )
    for key in COMPONENT_KEYS:
        if key in data and not isinstance(data[key], (str, dict)):
            raise UsageError(f"pipeline file {path}: {key} must be a spec string or a [{key}] table, got {data[key]!r}")
    explain = data.get("explain", {})
    if not isinstance(explain, dict):
        raise UsageError(f"pipeline file {path}: explain must be a table ([explain]), got {explain!r}")
    for key, kinds in EXPLAIN_TYPES.items():
        if key in explain and not isinstance(explain[key], kinds) or isinstance(explain.get(key), bool) and bool not in kinds:
            names = " or ".join(
                k.__name__.replace("str", "text").replace("int", "whole number").replace("float", "number").replace("list", "list")
                for k in kinds
            )
            raise UsageError(f"pipeline file {path}: [explain] {key} = {explain[key]!r} should be a {names}")
    bad = set(explain) - set(EXPLAIN_KEYS)
    if bad:
        raise UsageError(f"pipeline file {path}: unknown [explain] key(s) {sorted(bad)}; allowed: {', '.join(EXPLAIN_KEYS)}")
    return {key: data[key] for key in COMPONENT_KEYS if key in data} | {"explain": dict(explain)}
