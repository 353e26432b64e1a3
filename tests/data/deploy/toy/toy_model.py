"""A tiny linear model whose parameters come from its package (``${MODEL_FILES}/weights.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from modelward.model import MLModel


class ToyInput(BaseModel):
    x: float


class ToyOutput(BaseModel):
    y: float


class ToyModel(MLModel):
    """y = slope * x + intercept."""

    display_name = "Toy Model"
    qualified_name = "toy_model"
    description = "A linear model for deployment tests."
    input_schema = ToyInput
    output_schema = ToyOutput

    def __init__(self, weights: str, version: str = "0.0.0") -> None:
        document = json.loads(Path(weights).read_text(encoding="utf-8"))
        self.slope = float(document["slope"])
        self.intercept = float(document["intercept"])
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    def predict(self, data: ToyInput) -> ToyOutput:
        return ToyOutput(y=round(self.slope * data.x + self.intercept, 6))
