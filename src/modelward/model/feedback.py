"""Feedback on a prediction, as every protocol carries it (Seldon's ``SeldonMessage`` feedback).

A ``Feedback`` reaches every object of a model's chain that defines ``receive_feedback(feedback)``
(a router learning from rewards, a model that retrains online, a decorator that records it); the
data plane records it durably first. Which route a graph took is in ``routing``, copied from the
response's metadata, so the router that chose is the one that learns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Feedback:
    """One piece of feedback: the request and response it is about, a reward and/or the truth."""

    model: str
    version: str | None = None
    request: Any = None
    response: Any = None
    reward: float | None = None
    truth: Any = None
    routing: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    protocol: str = "native"


def receives_feedback(layer: Any) -> bool:
    """Whether an object of a chain wants feedback (its class defines ``receive_feedback``)."""
    return callable(getattr(type(layer), "receive_feedback", None))
