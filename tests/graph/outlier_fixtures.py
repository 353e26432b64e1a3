"""Toy schema, training rows and models for the outlier step's tests (importable by served configs)."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from modelward.model import MLModel


class Plan(str, Enum):
    """A categorical input given as an enum."""

    basic = "basic"
    premium = "premium"


class Applicant(BaseModel):
    """A flat input schema with every kind of feature (no range checks: the detector is the guard)."""

    age: int
    income: float
    region: Literal["north", "south", "east"]
    plan: Plan
    member: bool
    note: str = ""
    tags: list[str] = []


class Quote(BaseModel):
    """The toy model's output."""

    price: float


class QuoteModel(MLModel):
    """Prices an applicant; counts the inputs it saw (so a test can tell a refused input never arrived)."""

    display_name = "Quote Model"
    qualified_name = "quote_model"
    description = "Prices an applicant."
    version = "1.0.0"
    input_schema = Applicant
    output_schema = Quote

    def __init__(self) -> None:
        self.seen: list[Applicant] = []
        self.batches: list[int] = []

    def predict(self, data: Any) -> Quote:
        self.seen.append(data)
        return Quote(price=round(100.0 + abs(data.age + data.income / 1000), 2))

    def predict_batch(self, items: list[Any]) -> list[Quote]:
        self.batches.append(len(items))
        return [self.predict(item) for item in items]


def training_rows(count: int = 2000, seed: int = 7) -> list[dict[str, Any]]:
    """Applicants as input documents: age ~ N(40, 10), income ~ N(50k, 12k) tied to age, mixed categories."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, count).round().astype(int)
    income = 30_000 + 500 * age + rng.normal(0, 8000, count)
    region = rng.choice(["north", "south", "east"], count, p=[0.5, 0.3, 0.2])
    plan = rng.choice(["basic", "premium"], count, p=[0.7, 0.3])
    member = rng.random(count) < 0.4
    return [{"age": int(a), "income": float(i), "region": str(r), "plan": str(p), "member": bool(m)}
            for a, i, r, p, m in zip(age, income, region, plan, member, strict=True)]


NORMAL = {"age": 41, "income": 51_000.0, "region": "north", "plan": "basic", "member": False}
ABSURD = {"age": 500, "income": -3_000_000.0, "region": "north", "plan": "basic", "member": False}
