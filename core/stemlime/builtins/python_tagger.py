"""Built-in tagger ``python``: explain your own model.

``python,object=MODULE:ATTRIBUTE[,path=DIR]`` imports ATTRIBUTE from MODULE. It is either an
object with ``labels``, ``sample_rate``, ``input_seconds`` and ``predict(batch)``, or a plain
function ``f(batch) -> probabilities`` whose labels, sample rate and input length come as
options or as attributes of the function.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

import attrs
import numpy as np

from ..errors import StemlimeError, UsageError
from ..declarations import option


class PythonTagger:
    """Adapts a user's object or function to the tagger protocol."""

    def __init__(self, predict: Callable[[np.ndarray], Any], labels: list[str] | None, sample_rate: int, input_seconds: float | None):
        self._predict = predict
        self._labels = labels
        self.sample_rate = int(sample_rate)
        self.input_seconds = input_seconds

    @property
    def labels(self) -> list[str]:
        if self._labels is None:  # learn how many outputs there are from one silent input
            length = int(np.ceil((self.input_seconds or 1.0) * self.sample_rate))
            n_outputs = np.asarray(self._predict(np.zeros((1, length), np.float32))).shape[-1]
            self._labels = [str(i) for i in range(n_outputs)]
        return self._labels

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(batch))


def _where(error: BaseException) -> str:
    """ " (in FILE, line N)": the last line of user code that ``error`` passed through."""
    import traceback

    if isinstance(error, SyntaxError) and error.filename:
        return f" (in {error.filename}, line {error.lineno})"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if "importlib" not in frame.filename]
    return f" (in {frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def import_attribute(target: str, path: Path | None, owner: str = "tagger python", option: str = "object") -> Any:
    """The attribute named by ``MODULE:ATTRIBUTE`` (dotted attributes allowed), importing MODULE
    after putting ``path`` first on the import path. ``owner`` and ``option`` name the spec in
    the usage errors (the ``torch`` tagger of stemlime-hf imports its ``module=`` this way)."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise UsageError(f"{owner}: {option}={target!r} must be MODULE:ATTRIBUTE, e.g. {option}=mymodel:tagger")
    if path is not None:
        if not path.is_dir():
            raise UsageError(f"{owner}: path={path} is not a folder")
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UsageError(f"{owner}: cannot import module {module_name!r} ({error}); add path=FOLDER if it is not installed") from None
    except Exception as error:  # the user's module failed while it ran: its own error, where it happened, not a stemlime bug
        raise StemlimeError(
            f"{owner}: importing module {module_name!r} failed{_where(error)}: {type(error).__name__}: "
            f"{error}; fix the module (run 'python -c \"import {module_name}\"' to see the traceback)"
        ) from None
    try:
        value = module
        for part in attribute.split("."):
            value = getattr(value, part)
    except AttributeError:
        raise UsageError(f"{owner}: module {module_name!r} has no attribute {attribute!r}") from None
    return value


def parse_labels(text: str, owner: str = "tagger python") -> list[str]:
    """Label names from ``a;b;c`` or ``@FILE`` (one label per line)."""
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        from ..fs import file_problem

        problem = file_problem(path, "labels file")
        if problem:
            raise UsageError(f"{owner}: {problem}")
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [label.strip() for label in text.split(";") if label.strip()]


@attrs.frozen
class PythonTaggerOptions:
    """The options of the ``python`` tagger (``python,object=MODULE:ATTRIBUTE,...``)."""

    object: str | None = option(None, "MODULE:ATTRIBUTE of the model object or function")
    path: Path | None = option(None, "folder added to the import path before importing MODULE")
    labels: str | None = option(None, "label names separated by ';', or @FILE with one label per line")
    sample_rate: int | None = option(None, "sample rate in Hz the model expects")
    input_seconds: float | None = option(None, "fixed input length in seconds (default: any length)")


def build_python_tagger(variant: str | None, **given: Any) -> PythonTagger:
    options = PythonTaggerOptions(**given)
    object, path, labels = options.object, options.path, options.labels
    sample_rate, input_seconds = options.sample_rate, options.input_seconds
    if object is None:
        raise UsageError("tagger python needs object=MODULE:ATTRIBUTE, e.g. 'python,object=mymodel:tagger,path=.'")
    target = import_attribute(object, path)
    predict = getattr(target, "predict", None)
    if predict is None:
        if not callable(target):
            raise UsageError(f"tagger python: {object} is neither callable nor has a predict(batch) method")
        predict = target
    label_list = parse_labels(labels) if labels else getattr(target, "labels", None)
    rate = sample_rate if sample_rate is not None else getattr(target, "sample_rate", None)
    if rate is None:
        raise UsageError(f"tagger python: {object} has no sample_rate attribute; give sample_rate=HZ in the spec")
    from ..audio import as_sample_rate

    rate = as_sample_rate(rate)
    if seconds_given := (input_seconds if input_seconds is not None else getattr(target, "input_seconds", None)):
        if not isinstance(seconds_given, (int, float)) or not 0 < seconds_given < 1e6:
            raise UsageError(f"tagger python: input_seconds must be a positive number of seconds or None, got {seconds_given!r}")
    seconds = input_seconds if input_seconds is not None else getattr(target, "input_seconds", None)
    if label_list is not None:
        label_list = [str(label) for label in label_list]
        if len(set(label_list)) != len(label_list):
            raise StemlimeError(f"tagger python: {object} has duplicate label names")
    return PythonTagger(predict, label_list, rate, seconds)
