"""Models written as Seldon Python classes, served unchanged through ``SeldonModelAdapter``.

A Seldon component is a plain class with ``predict(self, X, feature_names, **kwargs)`` and, when it
wants them, ``send_feedback(self, features, feature_names, reward, truth, routing=None)``, ``tags()``,
``metrics()``, ``class_names()``, ``init_metadata()`` and ``load()`` (Seldon Core's Python wrapper,
``seldon_core/user_model.py``). It has no pydantic schema, so the adapter gives it a generic one:
``{"X": rows | object | text, "names": [...], "meta": {...}}`` in and ``{"data": ..., "names": [...]}``
out. ``X`` reaches the class as a numpy array when numpy is installed (as Seldon does), else as the
nested lists. ``tags()`` and ``metrics()`` go into the answer's metadata (``annotate``), which the
Seldon protocol returns in ``meta.tags`` and ``meta.metrics``; COUNTER metrics are also summed and
reported on ``/metrics`` as ``modelward_seldon_counter_total{model, key}``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import threading
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelward.model.base import MLModel
from modelward.model.context import annotate
from modelward.model.feedback import Feedback
from modelward.model.seldon_message import SeldonPayload, decode_message

logger = logging.getLogger(__name__)


class SeldonInput(BaseModel):
    """What a Seldon component's ``predict(X, feature_names, meta=...)`` is called with."""

    model_config = ConfigDict(extra="forbid", title="SeldonInput")

    X: list[Any] | dict[str, Any] | str | bytes = Field(
        description="The payload: rows (ndarray or tensor), an object (jsonData), text (strData) or bytes (binData).")
    names: list[str] | None = Field(default=None, description="Feature names of the columns of X.")
    meta: dict[str, Any] = Field(default_factory=dict, description="The request's Seldon meta (puid, tags).")


class SeldonOutput(BaseModel):
    """What a Seldon component's ``predict`` returned, as JSON values."""

    model_config = ConfigDict(title="SeldonOutput", ser_json_bytes="base64")

    data: list[Any] | dict[str, Any] | str | bytes = Field(description="The prediction.")
    names: list[str] = Field(default_factory=list, description="Column names of the prediction (class_names).")


@cache
def _numpy() -> Any | None:
    try:
        return importlib.import_module("numpy")
    except ImportError:
        return None


def as_array(value: Any) -> Any:
    """Rows as a numpy array when numpy is installed (what Seldon components expect), else unchanged."""
    np = _numpy()
    if np is None or not isinstance(value, list):
        return value
    try:
        return np.array(value)
    except ValueError:  # ragged rows
        return np.array(value, dtype=object)


def plain(value: Any) -> Any:
    """numpy arrays and scalars (anywhere in lists or dicts) as Python values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str | bytes | bool | int | float) or value is None:
        return value
    tolist = getattr(value, "tolist", None)
    return plain(tolist()) if callable(tolist) else value


def _not_implemented(exc: Exception) -> bool:
    return type(exc).__name__ == "SeldonNotImplementedError"


def looks_like_seldon(component: Any) -> bool:
    """Whether an object is a Seldon component: ``predict`` takes (X, feature_names)."""
    predict = getattr(component, "predict", None)
    if not callable(predict):
        return False
    try:
        parameters = list(inspect.signature(predict).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def _takes_meta(predict: Any) -> bool:
    try:
        parameters = inspect.signature(predict).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD or p.name == "meta" for p in parameters)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SeldonModelAdapter(MLModel):
    """A Seldon Python component as an ``MLModel`` (the loader wraps such classes itself)."""

    input_schema = SeldonInput
    output_schema = SeldonOutput

    def __init__(self, component: Any, *, qualified_name: str | None = None, version: str | None = None) -> None:
        self._component = component
        self._call("load", None)
        metadata = self._call("init_metadata", {})
        metadata = metadata if isinstance(metadata, dict) else {}
        versions = metadata.get("versions") or []
        self._qualified_name = str(qualified_name or getattr(component, "qualified_name", None)
                                   or metadata.get("name") or _snake(type(component).__name__))
        self._version = str(version or getattr(component, "version", None) or (versions[0] if versions else "0"))
        self._takes_meta = _takes_meta(component.predict)
        self._counters: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SeldonModelAdapter({type(self._component).__name__})"

    @property
    def component(self) -> Any:
        """The Seldon class instance being served."""
        return self._component

    @property
    def display_name(self) -> str:
        return str(getattr(self._component, "display_name", type(self._component).__name__))

    @property
    def qualified_name(self) -> str:
        return self._qualified_name

    @property
    def description(self) -> str:
        return str(getattr(self._component, "description", None) or inspect.getdoc(type(self._component)) or "")

    @property
    def version(self) -> str:
        return self._version

    def _call(self, method: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        """``component.method(...)``, or ``default`` when it has none (or raises SeldonNotImplementedError)."""
        function = getattr(self._component, method, None)
        if not callable(function):
            return default
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            if _not_implemented(exc):
                return default
            raise

    def predict(self, data: Any) -> SeldonOutput:
        names = list(data.names or [])
        features = as_array(data.X)
        if self._takes_meta:
            result = self._component.predict(features, names, meta=data.meta)
        else:
            result = self._component.predict(features, names)
        runtime_tags: dict[str, Any] = {}
        runtime_metrics: list[Any] = []
        if type(result).__name__ == "SeldonResponse":  # seldon_core.user_model.SeldonResponse
            runtime_tags, runtime_metrics = dict(result.tags or {}), list(result.metrics or [])
            result = result.data
        value = plain(result)
        if not isinstance(value, list | dict | str | bytes):
            value = [value]
        tags = {**(self._call("tags", None) or {}), **runtime_tags}
        if tags:
            annotate("tags", plain(tags))
        metrics = plain([*(self._call("metrics", None) or []), *runtime_metrics])
        if metrics:
            annotate("metrics", metrics)
            self._count(metrics)
        return SeldonOutput(data=value, names=self._class_names(value))

    def _count(self, metrics: list[Any]) -> None:
        """Add the COUNTER metrics a prediction reported (Seldon's ``{"type", "key", "value"}``)."""
        with self._lock:
            for metric in metrics:
                if isinstance(metric, dict) and metric.get("type") == "COUNTER" and isinstance(
                        metric.get("value"), int | float) and isinstance(metric.get("key"), str):
                    self._counters[metric["key"]] = self._counters.get(metric["key"], 0.0) + float(metric["value"])

    def metric_samples(self) -> list[tuple[str, str, dict[str, str], float]]:
        """The component's COUNTER metrics, summed, for ``/metrics`` (``modelward_seldon_counter_total``)."""
        with self._lock:
            counters = sorted(self._counters.items())
        return [("modelward_seldon_counter", "COUNTER metrics a Seldon component reported, summed.",
                 {"model": self._qualified_name, "key": key}, value) for key, value in counters]

    def _class_names(self, value: Any) -> list[str]:
        if not (isinstance(value, list) and value and isinstance(value[0], list)):
            return []
        names = getattr(self._component, "class_names", None)
        if callable(names):
            names = self._call("class_names", None)
        if names is not None:
            return [str(n) for n in names]
        return [f"t:{i}" for i in range(len(value[0]))]

    def receive_feedback(self, feedback: Feedback) -> None:
        """Hand feedback to the component's ``send_feedback`` (Seldon's arguments), if it has one."""
        request, truth = _payload(feedback.request), _payload(feedback.truth)
        routing = feedback.routing.get(self._qualified_name)
        self._call("send_feedback", None, as_array(request.value), request.names, feedback.reward,
                   as_array(truth.value), routing=routing)


def _payload(document: Any) -> SeldonPayload:
    """A feedback's request or truth: a SeldonMessage, or the adapter's own ``{"X", "names"}`` input."""
    if document is None:
        return SeldonPayload("empty")
    if isinstance(document, dict) and "X" in document:
        return SeldonPayload("ndarray", document["X"], list(document.get("names") or []))
    if isinstance(document, dict) and not set(document) - {"data", "jsonData", "strData", "binData", "meta"}:
        return decode_message(document, "feedback")
    return SeldonPayload("jsonData", document)
