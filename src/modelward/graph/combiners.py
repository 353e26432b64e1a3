"""Combiners: one answer from the answers of every child of a COMBINER node.

| ``implementation`` | class | configuration |
|---|---|---|
| ``AVERAGE`` | ``AverageCombiner`` | — |
| ``WEIGHTED_AVERAGE`` | ``WeightedAverageCombiner`` | ``weights`` (one per child) |
| ``MAJORITY_VOTE`` | ``MajorityVoteCombiner`` | — |

The averages take the mean of every numeric field of the children's answers (other fields come
from the first child); the vote returns the answer most children gave (a tie: the earliest child's).
A custom combiner subclasses ``Combiner`` and overrides ``aggregate`` (and ``output_schema`` when its
answer is not shaped like the first child's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel


class Combiner:
    """Base class: ``aggregate`` makes one answer from the children's answers (in child order)."""

    def setup(self, children: Sequence[str], output_schema: Any) -> None:
        """Check the configuration against the children and their answers' schema (``ValueError``)."""

    def aggregate(self, outputs: list[Any]) -> Any:
        """The combined answer."""
        raise NotImplementedError

    @property
    def output_schema(self) -> Any:
        """The schema of the combined answer; ``None``: the first child's."""
        return None


def numeric_fields(schema: Any) -> list[str]:
    """The fields of a pydantic model that hold numbers (not booleans)."""
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return []
    return [name for name, field in schema.model_fields.items() if field.annotation in (int, float)]


class WeightedAverageCombiner(Combiner):
    """The weighted mean of every numeric field (or of the answers, when they are numbers)."""

    def __init__(self, weights: list[float] | None = None) -> None:
        if weights is not None and (not weights or any(not math.isfinite(w) or w < 0 for w in weights)
                                    or sum(weights) <= 0):
            raise ValueError("weights: expected non-negative numbers, not all zero")
        self.weights = weights
        self._fields: list[str] = []
        self._normalized: list[float] = []

    def setup(self, children: Sequence[str], output_schema: Any) -> None:
        weights = self.weights or [1.0] * len(children)
        if len(weights) != len(children):
            raise ValueError(f"weights: {len(weights)} weight(s) for {len(children)} children")
        self._normalized = [w / sum(weights) for w in weights]
        self._fields = numeric_fields(output_schema)
        if not self._fields and output_schema not in (int, float):
            name = getattr(output_schema, "__name__", str(output_schema))
            raise ValueError(f"the children answer {name}, which has no numeric field to average")

    def aggregate(self, outputs: list[Any]) -> Any:
        if not self._fields:
            return sum(w * float(o) for w, o in zip(self._normalized, outputs, strict=True))
        first = outputs[0]
        averaged = {name: sum(w * float(getattr(o, name)) for w, o in zip(self._normalized, outputs, strict=True))
                    for name in self._fields}
        return first.model_copy(update=averaged)


class AverageCombiner(WeightedAverageCombiner):
    """The mean of every numeric field, every child weighing the same."""

    def __init__(self) -> None:
        super().__init__(weights=None)


class MajorityVoteCombiner(Combiner):
    """The answer most children gave (compared as JSON); a tie goes to the earliest child."""

    def aggregate(self, outputs: list[Any]) -> Any:
        counts: dict[bytes, int] = {}
        firsts: dict[bytes, Any] = {}
        for output in outputs:
            key = orjson.dumps(output.model_dump(mode="json") if isinstance(output, BaseModel) else output,
                               option=orjson.OPT_SORT_KEYS)
            counts[key] = counts.get(key, 0) + 1
            firsts.setdefault(key, output)
        winner = max(counts, key=lambda k: counts[k])  # the first key with the top count
        return firsts[winner]


BUILTIN_COMBINERS: dict[str, type[Combiner]] = {
    "AVERAGE": AverageCombiner,
    "WEIGHTED_AVERAGE": WeightedAverageCombiner,
    "MAJORITY_VOTE": MajorityVoteCombiner,
}
