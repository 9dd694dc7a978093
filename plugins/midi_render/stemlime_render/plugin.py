"""stemlime's entry point for the renderer: the ``render`` and ``render-dataset`` commands.

Importing this module is cheap (no pretty_midi, FluidSynth or espeak-ng): the commands import
the renderer when they run.
"""

from __future__ import annotations

from stemlime.plugin import hookimpl
from stemlime.plugin import Command

from .commands import add_dataset_arguments, add_render_arguments, run_dataset, run_render


@hookimpl
def stemlime_commands(register):
    register(
        Command(
            name="render",
            help="render MIDI (a file, or a piece generated from a seed) into stems: DIR/<stem>.wav, mixture.wav, metadata.json",
            add_arguments=add_render_arguments,
            run=run_render,
        )
    )
    register(
        Command(
            name="render-dataset",
            help="render many generated pieces in parallel processes (resumes where it stopped)",
            add_arguments=add_dataset_arguments,
            run=run_dataset,
        )
    )
