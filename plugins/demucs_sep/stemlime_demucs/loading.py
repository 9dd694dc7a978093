"""A Demucs variant's bag of models, loaded with the demucs package's own code and no pickled code.

A pretrained Demucs "model" is a bag (``demucs.apply.BagOfModels``): a YAML file ``NAME.yaml``
lists the signatures of its models (with per-stem weights and a segment length), and each
signature ``SIG`` is one network. demucs keeps them in two layouts, both read here:

- its Hugging Face repositories (demucs 4.1's ``get_hf_model``; ``adefossez/HTDemucs``, ...):
  ``NAME.yaml`` and ``SIG.safetensors``, the class and its arguments in the safetensors
  metadata, read by ``demucs.hf.load_safetensors_model``;
- its original downloads (``SIG-CHECKSUM.th``, what ``demucs.states.save_with_checksum``
  writes and older demucs versions cached under ``~/.cache/torch/hub/checkpoints``): the
  checksum in the name is verified with ``demucs.repo.check_checksum`` and the file is read
  with ``torch.load(weights_only=True)``, allowing only demucs's model classes and
  ``fractions.Fraction``; ``demucs.states.load_model`` builds the network. Without
  ``NAME.yaml`` in the folder, the bag comes from the YAML files demucs ships.

A file may only name demucs's own network classes: the metadata of a safetensors file is
checked before demucs imports the class it names, so a model folder never runs other code.
Quantized bags (``mdx_q``, ``mdx_extra_q``) need diffq and are refused.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
import yaml

from stemlime.plugin import ModelFilesError, UsageError

MODEL_CLASSES = ("demucs.htdemucs.HTDemucs", "demucs.hdemucs.HDemucs", "demucs.demucs.Demucs")


def _network_classes() -> list[type]:
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    return [HTDemucs, HDemucs, Demucs]


def hub_repository(variant: str) -> str:
    """The Hugging Face repository of a pretrained variant (demucs's own naming)."""
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name

    return f"{DEFAULT_NAMESPACE}/{hf_repo_name(variant)}"


def _read_bag(path: Path) -> dict[str, Any]:
    try:
        bag = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ModelFilesError(f"demucs: cannot read the bag of models {path}: {error}") from None
    if not isinstance(bag, dict) or not isinstance(bag.get("models"), list) or not bag["models"]:
        raise ModelFilesError(f"demucs: {path} is not a demucs bag of models (it needs a list 'models: [SIG, ...]')")
    return bag


def bag_definition(variant: str, folder: Path) -> tuple[dict[str, Any], Path]:
    """The bag's YAML: ``folder/VARIANT.yaml``, else the one demucs ships (for folders of ``.th`` downloads)."""
    own = folder / f"{variant}.yaml"
    if own.is_file():
        return _read_bag(own), own
    from demucs.pretrained import REMOTE_ROOT

    shipped = Path(REMOTE_ROOT) / f"{variant}.yaml"
    if not shipped.is_file():
        raise UsageError(f"demucs: demucs {_demucs_version()} knows no model {variant!r} and {folder} has no {variant}.yaml")
    return _read_bag(shipped), shipped


def _demucs_version() -> str:
    import demucs

    return demucs.__version__


def _checked_metadata(path: Path) -> None:
    """Refuse a safetensors file whose metadata would make demucs import anything but its networks."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # safetensors' own error type for a damaged or foreign file
        raise ModelFilesError(f"demucs: {path} is not a readable safetensors file: {error}") from None
    missing = [key for key in ("klass", "args", "kwargs") if key not in metadata]
    if missing:
        raise ModelFilesError(
            f"demucs: {path} is not a demucs model (its metadata lacks {', '.join(missing)}): "
            "demucs's Hugging Face files store the network class and arguments there"
        )
    if metadata["klass"] not in MODEL_CLASSES:
        raise ModelFilesError(
            f"demucs: {path} names the class {metadata['klass']!r}; stemlime builds only demucs's networks ({', '.join(MODEL_CLASSES)})"
        )
    if "structure" in metadata:
        raise ModelFilesError(
            f"demucs: {path} is a quantized (diffq) model; stemlime runs the full-precision "
            "variants (htdemucs, htdemucs_ft, htdemucs_6s, mdx_extra, mdx, hdemucs_mmi)"
        )
    try:
        json.loads(metadata["args"]), json.loads(metadata["kwargs"])
    except ValueError as error:
        raise ModelFilesError(f"demucs: {path}: the model arguments in its metadata are not JSON: {error}") from None


def _load_safetensors(path: Path) -> torch.nn.Module:
    from demucs.hf import load_safetensors_model

    _checked_metadata(path)
    try:
        return load_safetensors_model(path)
    except (RuntimeError, TypeError, ValueError, KeyError) as error:  # tensors that do not fit the network
        raise ModelFilesError(f"demucs: {path} does not load into its network: {error}") from None


def _load_th(path: Path) -> torch.nn.Module:
    from demucs.repo import ModelLoadingError, check_checksum
    from demucs.states import load_model

    signature, _, checksum = path.stem.partition("-")
    if checksum:
        try:
            check_checksum(path, checksum)
        except ModelLoadingError as error:
            raise ModelFilesError(f"demucs: {error}: the file is damaged or incomplete; download it again") from None
    try:
        with torch.serialization.safe_globals([*_network_classes(), Fraction]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle.UnpicklingError names the global that is not allowed
        raise ModelFilesError(
            f"demucs: {path} cannot be read with torch.load(weights_only=True): {str(error).splitlines()[0]}. "
            "stemlime unpickles nothing but tensors and demucs's network classes; use the variant's "
            "safetensors files (its Hugging Face repository) instead."
        ) from None
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(package):
        raise ModelFilesError(f"demucs: {path} is not a demucs model package (klass, args, kwargs, state)")
    if isinstance(package["state"], dict) and package["state"].get("__quantized"):
        raise ModelFilesError(f"demucs: {path} is a quantized (diffq) model; stemlime runs the full-precision variants")
    try:
        return load_model(package)
    except (RuntimeError, TypeError, ValueError, KeyError) as error:
        raise ModelFilesError(f"demucs: {path} does not load into its network: {error}") from None


def _network_file(folder: Path, signature: str) -> Path | None:
    safetensors = folder / f"{signature}.safetensors"
    if safetensors.is_file():
        return safetensors
    downloads = sorted(folder.glob(f"{signature}-*.th")) + sorted(folder.glob(f"{signature}.th"))
    return downloads[0] if downloads else None


def load_bag(variant: str, folder: Path) -> Any:
    """The ``BagOfModels`` of ``variant`` from ``folder`` (see the module docstring), in eval mode."""
    from demucs.apply import BagOfModels

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UsageError(f"demucs: model_dir={folder} is not a folder")
    bag, bag_file = bag_definition(variant, folder)
    networks = []
    for signature in bag["models"]:
        path = _network_file(folder, str(signature))
        if path is None:
            raise ModelFilesError(
                f"demucs:{variant}: {folder} lacks the model {signature} of {bag_file.name}: expected "
                f"{signature}.safetensors (from the Hugging Face repository {hub_repository(variant)}) or "
                f"{signature}-CHECKSUM.th (demucs's download)"
            )
        networks.append(_load_safetensors(path) if path.suffix == ".safetensors" else _load_th(path))
    try:
        model = BagOfModels(networks, bag.get("weights"), bag.get("segment"))
    except AssertionError:
        raise ModelFilesError(
            f"demucs:{variant}: the models of {bag_file} do not fit together (their stems, rates "
            "or channels differ, or the weights do not match them)"
        ) from None
    return model.eval()


def hub_folder(variant: str) -> Path:
    """The variant's files from the Hugging Face hub (or its cache), as ``demucs.hf.get_hf_model`` fetches them."""
    from huggingface_hub import snapshot_download

    repository = hub_repository(variant)
    try:
        return Path(snapshot_download(repository, allow_patterns=[f"{variant}.yaml", "*.safetensors"]))
    except Exception as error:  # offline, unreachable, or not in the cache: huggingface_hub's own errors
        raise ModelFilesError(
            f"demucs:{variant}: cannot get its files from the Hugging Face repository {repository} "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). This needs the network "
            "once (then the Hugging Face cache; HF_HUB_OFFLINE=1 uses it offline), or download the files and give "
            f"their folder: demucs:{variant},model_dir=FOLDER ({variant}.yaml and the .safetensors files, or "
            "demucs's .th downloads)."
        ) from None
