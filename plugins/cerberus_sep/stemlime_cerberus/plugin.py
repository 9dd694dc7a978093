"""stemlime hooks: the ``cerberus`` separator, its recipe models and the ``train`` command.

Importing this module is cheap (no torch): ``stemlime plugins`` lists it without loading anything.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from stemlime.plugin import Factory, hookimpl, options_of
from stemlime.plugin import ModelFilesError
from stemlime.plugin import ModelFiles, Recipe
from stemlime.plugin import Command

from .commands import add_train_arguments, run_train
from .config import FILES, WEIGHTS, check_folder
from .instruments import NAMED_VARIANTS, parse_instruments
from .options import CerberusOptions


def _build(variant: str | None, **options):
    from .separator import CerberusSeparator

    return CerberusSeparator(variant, **options)


@hookimpl
def stemlime_separators(register):
    register(
        Factory(
            name="cerberus",
            description="Cerberus (Manilow et al. 2020): piano, guitar, bass, drums and rest in one network that also transcribes "
            "(separate --midi); default model pno-gtr-bss-drm, built here by 'stemlime models build'",
            build=_build,
            variants=NAMED_VARIANTS,
            default_variant=None,  # with model_dir: the model's own set; without: pno-gtr-bss-drm
            options=options_of(CerberusOptions),
        )
    )


def _verify(variant: str, folder: Path) -> None:
    config, _ = check_folder(folder, f"Build it again: stemlime models build cerberus/{variant} --force")
    if config.instruments != parse_instruments(variant):
        raise ModelFilesError(f"model cerberus/{variant}: {folder} holds a model of {config.variant}, not {variant}")


def _read_tensors(folder: Path):
    from safetensors.numpy import load_file

    return load_file(str(Path(folder) / WEIGHTS))


def _recipe(variant: str, folder: Path, work: Path, device: str) -> None:
    from .recipe import build, plan_for

    build(plan_for(variant, device), folder, work, device)


@hookimpl
def stemlime_models(register):
    from .recipe import DURATION

    for variant in NAMED_VARIANTS:
        register(
            ModelFiles(
                name=f"cerberus/{variant}",
                description=f"Cerberus {variant} ({', '.join(parse_instruments(variant))} + rest), trained here on rendered pieces "
                "(the paper's weights are unpublished)",
                files={name: name for name in FILES},
                verify=partial(_verify, variant),
                read_tensors=_read_tensors,
                fetch_by_default=False,
                recipe=Recipe(partial(_recipe, variant), DURATION),
            )
        )


@hookimpl
def stemlime_commands(register):
    register(
        Command(
            name="train",
            help="train a model: stemlime train cerberus --data DIR --out MODEL_DIR (resumable, deterministic on CPU)",
            add_arguments=add_train_arguments,
            run=run_train,
        )
    )
