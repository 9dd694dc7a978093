"""Component specs: ``NAME[:VARIANT][,key=value...]`` strings and their TOML-table twins.

musicnn:MSD_musicnn,device=cuda      <->   [tagger]
                                           name = "musicnn"
                                           variant = "MSD_musicnn"
                                           device = "cuda"
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from .errors import UsageError


@attrs.frozen
class Spec:
    """A parsed spec: which factory, which variant, which options (values still unconverted)."""

    name: str
    variant: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def __str__(self) -> str:
        text = self.name + (f":{self.variant}" if self.variant else "")
        return text + "".join(f",{key}={value}" for key, value in self.options.items())


def parse_spec(text: str) -> Spec:
    """Parse ``NAME[:VARIANT][,key=value...]``; whitespace around parts is ignored."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"empty spec {text!r}: expected NAME[:VARIANT][,key=value...], e.g. 'musicnn:MSD_musicnn'")
    head, *pairs = [part.strip() for part in text.split(",")]
    name, _, variant_text = head.partition(":")
    name, variant = name.strip(), variant_text.strip() or None
    if not name:
        raise UsageError(f"spec {text!r} has no name: expected NAME[:VARIANT][,key=value...]")
    options: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"spec {text!r}: option {pair!r} is not of the form key=value")
        options[key.strip()] = value.strip()
    return Spec(name, variant, options)  # type: ignore[arg-type]  # attrs' dict converter


def spec_from_table(table: Mapping[str, Any], what: str = "component") -> Spec:
    """A spec from a TOML table ``{name = ..., variant = ..., other keys are options}``."""
    if "name" not in table:
        raise UsageError(f"the [{what}] table needs a 'name' key (keys found: {sorted(table) or 'none'})")
    options = {key: value for key, value in table.items() if key not in ("name", "variant")}
    return Spec(str(table["name"]), table.get("variant"), options)


def as_spec(value: "str | Spec | Mapping[str, Any]", what: str = "component") -> Spec:
    """Accept a spec string, a TOML-style table or a Spec."""
    if isinstance(value, Spec):
        return value
    if isinstance(value, str):
        return parse_spec(value)
    if isinstance(value, Mapping):
        return spec_from_table(value, what)
    raise UsageError(f"cannot read a {what} spec from {value!r}: give a string like 'name:variant,key=value' or a table")
