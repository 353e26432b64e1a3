"""Small models for ``bench/graph.py``: a pass-through transformer, a scorer, and an HTTP hop.

Imported by the benchmark in process and by the ``modelward serve`` processes it starts (the bench
puts ``bench/`` on their ``PYTHONPATH``).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from modelward.model import MLModel


class Features(BaseModel):
    """Four numbers, like a small tabular model's input."""

    a: float
    b: float
    c: float
    d: float


class Score(BaseModel):
    """The scorer's answer."""

    score: float


class PassThrough(MLModel):
    """A TRANSFORMER that returns its input (the cheapest possible node: what is left is the graph's cost)."""

    display_name = qualified_name = "pass_through"
    description = "Returns its input."
    version = "1"
    input_schema = Features
    output_schema = Features

    def predict(self, data: Any) -> Any:
        return data


class Scorer(MLModel):
    """A linear score of the features."""

    display_name = qualified_name = "scorer"
    description = "A linear score."
    version = "1"
    input_schema = Features
    output_schema = Score

    def predict(self, data: Any) -> Score:
        return Score(score=0.1 * data.a + 0.2 * data.b + 0.3 * data.c + 0.4 * data.d)


class HttpHop(MLModel):
    """A node in its own container: passes its input on to the next server's native route over HTTP."""

    display_name = qualified_name = "http_hop"
    description = "Calls the next server."
    version = "1"
    input_schema = Features
    output_schema = Score

    def __init__(self, url: str, model: str = "scorer") -> None:
        self.url = f"{url}/api/models/{model}/prediction"
        self.client = httpx.Client(timeout=10)

    def predict(self, data: Any) -> Score:
        answer = self.client.post(self.url, content=data.model_dump_json(),
                                  headers={"content-type": "application/json"})
        answer.raise_for_status()
        return Score.model_validate_json(answer.content)


class OtherFeatures(BaseModel):
    """The same fields as ``Features`` in another class: the next node's input must be re-validated."""

    a: float
    b: float
    c: float
    d: float


class Reshape(PassThrough):
    """A TRANSFORMER whose output is another class than its child's input (the graph converts it)."""

    output_schema = OtherFeatures

    def predict(self, data: Any) -> Any:
        return OtherFeatures(a=data.a, b=data.b, c=data.c, d=data.d)
