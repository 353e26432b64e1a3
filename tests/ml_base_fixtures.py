"""A model and a decorator written for ml_base (the PyPI package ml-base), unchanged."""

from __future__ import annotations

from ml_base import MLModel
from ml_base.decorator import MLModelDecorator
from pydantic import BaseModel


class IrisInput(BaseModel):
    """Input."""

    sepal_length: float
    petal_length: float


class IrisOutput(BaseModel):
    """Output."""

    species: str


class IrisModel(MLModel):
    """An ml_base model, as the articles write them."""

    @property
    def display_name(self) -> str:
        return "Iris Model"

    @property
    def qualified_name(self) -> str:
        return "iris_model"

    @property
    def description(self) -> str:
        return "A toy iris classifier."

    @property
    def version(self) -> str:
        return "0.2.0"

    @property
    def input_schema(self) -> type[BaseModel]:
        return IrisInput

    @property
    def output_schema(self) -> type[BaseModel]:
        return IrisOutput

    def __init__(self, threshold: float = 2.5) -> None:
        self.threshold = threshold

    def predict(self, data: IrisInput) -> IrisOutput:
        return IrisOutput(species="setosa" if data.petal_length < self.threshold else "versicolor")


class UpperCaseDecorator(MLModelDecorator):
    """An ml_base decorator: upper-cases the species."""

    def predict(self, data: IrisInput) -> IrisOutput:
        result = self._model.predict(data=data)
        return IrisOutput(species=result.species.upper())
