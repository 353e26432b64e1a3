"""The protocol-neutral vocabulary of the data plane: what a codec asks, what it gets back.

Every protocol (native REST, Open Inference V2 over REST and gRPC, Seldon v1, KServe v1, MLflow)
decodes its wire format into an ``InferenceRequest`` of plain Python values, makes one call on
``DataPlane`` and encodes the ``InferenceResult``. Domain errors (``ModelwardError``) are raised, not
returned; a policy denial is an output (``PredictionNotAvailable``), so it keeps its messages in
every protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from modelward.model import PredictionNotAvailable
from modelward.model.feedback import Feedback


@dataclass(frozen=True)
class InferenceRequest:
    """One request from any protocol.

    ``inputs`` holds one document per row (a dict matching the model's input schema, or an
    already validated instance of it). ``many`` is false when the caller sent one input and wants
    one output back (``inputs`` then has exactly one item).
    """

    model: str
    inputs: list[Any]
    version: str | None = None
    many: bool = False
    protocol: str = "native"
    request_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InferenceResult:
    """The answer: one output per input, in order, and the metadata the chain added."""

    model: str
    version: str
    outputs: list[Any]
    request_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def denied(self) -> list[PredictionNotAvailable]:
        """The outputs a policy withheld."""
        return [o for o in self.outputs if isinstance(o, PredictionNotAvailable)]

    def status_code(self) -> int:
        """The status a protocol that answers per request should use: a denial's, else 200."""
        for output in self.outputs:
            if isinstance(output, PredictionNotAvailable) and output.status_code != 200:
                return output.status_code
        return 200


#: Feedback on an earlier prediction, from any protocol: the same value models and decorators receive
#: (``modelward.model.feedback.Feedback``); the data plane fills in the served name and version.
FeedbackRequest = Feedback


@dataclass(frozen=True)
class FeedbackResult:
    """What happened to a piece of feedback: where it was recorded and which layers received it."""

    model: str
    version: str
    recorded: bool
    delivered_to: list[str]
    route: str = ""


class RequestObserver(Protocol):
    """What the data plane reports per request (``modelward.metrics.ServingMetrics`` implements it)."""

    def observe_request(self, model: str, version: str, protocol: str, status: str, seconds: float) -> None:
        """One request answered (``status``: ok, denied, or the error class's name)."""

    def observe_feedback(self, model: str, route: str, reward: float | None) -> None:
        """One piece of feedback received."""

    def observe_outlier(self, model: str, score: float) -> None:
        """One input's outlier score (called only when the chain has an outlier step)."""


def outlier_scores(meta: dict[str, Any]) -> list[float]:
    """The scores of the outlier step's verdicts in an answer's metadata (``outlier``: one, or a list)."""
    found = meta.get("outlier")
    verdicts = found if isinstance(found, list) else [found]
    return [float(v["score"]) for v in verdicts
            if isinstance(v, dict) and isinstance(v.get("score"), int | float) and not isinstance(v["score"], bool)]


class FeedbackSink(Protocol):
    """Where feedback is recorded durably before any layer sees it."""

    def record(self, feedback: FeedbackRequest, version: str) -> None:
        """Append one piece of feedback; raise ``ModelwardError`` if it cannot be kept."""


def to_python(output: Any) -> Any:
    """An output as JSON-able Python values (pydantic models dumped in JSON mode)."""
    if isinstance(output, BaseModel):
        return output.model_dump(mode="json")
    return output
