"""stemlime: listenable explanations for music models (audioLIME, plugin-based, TensorFlow-free)."""

from .audio import load_audio, write_wav
from .components import Component, Excerpt, Segment
from .errors import AudioError, ModelFilesError, StemlimeError, UsageError
from .engine import Engine
from .explanation import Explanation, LabelExplanation, Neighbourhood
from .hookspecs import hookimpl
from .pipeline import Pipeline
from .registry import Factory, Option, Registry, get_registry
from .request import ExplainRequest
from .specs import Spec, parse_spec
from .surrogates import SurrogateFit
from .scanning import Scan, scan
from .stemgrams import Stemgram, stemgram
from .dataset import DatasetResult, explain_dataset

from .version import __version__


__all__ = [
    "AudioError",
    "Component",
    "DatasetResult",
    "Engine",
    "Excerpt",
    "ExplainRequest",
    "Explanation",
    "Factory",
    "LabelExplanation",
    "ModelFilesError",
    "Neighbourhood",
    "Option",
    "Pipeline",
    "Registry",
    "Scan",
    "Segment",
    "Spec",
    "StemlimeError",
    "Stemgram",
    "SurrogateFit",
    "UsageError",
    "explain_dataset",
    "get_registry",
    "hookimpl",
    "load_audio",
    "parse_spec",
    "scan",
    "stemgram",
    "write_wav",
]
