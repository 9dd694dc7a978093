"""The options of the ``spleeter`` separator, declared once (``stemlime plugins`` lists them from here; no torch)."""

from __future__ import annotations

from pathlib import Path

import attrs

from stemlime.plugin import device_option, option, path_or_none, threads_option


@attrs.frozen
class SpleeterOptions:
    owner = "spleeter"
    device: str = device_option()
    wiener: bool = option(False, "multichannel Wiener filtering of the estimates (spleeter's --mwf)", converter=bool)
    model_dir: Path | None = option(
        None, "folder holding this variant's model.index and model.data-00000-of-00001 (default: the model cache)", converter=path_or_none
    )
    threads: int = threads_option("one stem's U-Net")
