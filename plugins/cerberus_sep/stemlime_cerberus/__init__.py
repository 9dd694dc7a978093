"""stemlime-cerberus: Cerberus (Manilow, Seetharaman & Pardo, ICASSP 2020) for stemlime.

One network separates the instruments of a mix (masks) and transcribes them (piano rolls,
drum onsets). The paper's weights are unpublished, so the package also holds the trainer and
the recipe that builds the default model here:

    stemlime models build cerberus/pno-gtr-bss-drm        # render + train (about 11 CPU minutes)
    stemlime separate song.wav --separator cerberus --midi --out stems/

    from stemlime_cerberus import train, CerberusSeparator
    train(["data/"], "model/", instruments="piano,bass", epochs=4)
    stems = CerberusSeparator(model_dir="model/").separate(audio, 16000)

Modules: :mod:`.plugin` (hooks, cheap), :mod:`.separator`, :mod:`.trainer`, :mod:`.recipe`,
:mod:`.network` (torch), :mod:`.data` (render and Slakh readers), :mod:`.batches`,
:mod:`.losses`, :mod:`.transcription`, :mod:`.metrics`, :mod:`.scoring`, :mod:`.config`.
The names below are imported on first use, so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "train": "trainer",
    "Settings": "trainer",
    "CerberusSeparator": "separator",
    "CerberusConfig": "config",
    "read_tracks": "data",
    "read_slakh_track": "data",
    "read_render_piece": "data",
    "Track": "data",
    "evaluate": "scoring",
    "si_sdr": "metrics",
    "frame_f1": "metrics",
    "onset_f1": "metrics",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
