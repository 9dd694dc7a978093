"""The options of the ``cerberus`` separator, declared once (``stemlime plugins`` lists them from here; no torch)."""

from __future__ import annotations

from pathlib import Path

import attrs

from stemlime.plugin import device_option, option, path_or_none


@attrs.frozen
class CerberusOptions:
    owner = "cerberus"
    model_dir: Path | None = option(
        None, "a trained model's folder (stemlime train cerberus --out DIR); default: the built model", converter=path_or_none
    )
    device: str = device_option()
    rest: bool = option(True, "add the stem rest = mix - sum of the estimates, so the stems add up to the mix", converter=bool)
