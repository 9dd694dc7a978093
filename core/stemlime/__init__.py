"""stemlime: listenable explanations for music models (audioLIME, plugin-based, TensorFlow-free)."""

from .audio import load_audio, write_wav
from .components import Component, Excerpt, Segment
from .errors import AudioError, ModelFilesError, StemlimeError, UsageError
from .engine import Engine
from .explanation import Explanation, LabelExplanation, Neighbourhood
from .hookspecs import hookimpl
from .pipeline import Pipeline
from .registry import Factory, Option, Registry, get_registry
from .specs import Spec, parse_spec
from .surrogates import SurrogateFit

__version__ = "0.1.0"

__all__ = [
    "AudioError", "Component", "Engine", "Excerpt", "Explanation", "Factory", "LabelExplanation", "ModelFilesError",
    "Neighbourhood", "Option", "Pipeline", "Registry", "Segment", "Spec", "StemlimeError", "SurrogateFit",
    "UsageError", "get_registry", "hookimpl", "load_audio", "parse_spec", "write_wav",
]
