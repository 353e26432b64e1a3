"""The two models the serving benchmark serves, written to ``ml_base``'s interface.

Every server in the benchmark (modelward, rest-model-service, the bare FastAPI and Starlette
endpoints) imports these same classes, so each one runs the same model code:

- ``NoopModel`` does no work: it echoes one number of its input. What remains is the framework's
  own cost (HTTP, JSON, validation, dispatch, serialization).
- ``InsuranceModel`` is the insurance charges example (the articles' schema): it loads the trained
  scikit-learn pipeline from ``model.joblib`` directly and predicts one row, as the example does.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from ml_base import MLModel
from pydantic import BaseModel, Field


class SexEnum(str, Enum):
    """Gender of the beneficiary."""

    male = "male"
    female = "female"


class RegionEnum(str, Enum):
    """Region where the beneficiary lives."""

    southwest = "southwest"
    southeast = "southeast"
    northwest = "northwest"
    northeast = "northeast"


class InsuranceInput(BaseModel):
    """The insurance charges model's input (the same fields and bounds as the example)."""

    age: int = Field(ge=18, le=65, description="Age of primary beneficiary in years.")
    sex: SexEnum = Field(description="Gender of beneficiary.")
    bmi: float = Field(ge=15.0, le=50.0, description="Body mass index of beneficiary.")
    children: int = Field(ge=0, le=5, description="Number of children covered by health insurance.")
    smoker: bool = Field(description="Whether beneficiary is a smoker.")
    region: RegionEnum = Field(description="Region where beneficiary lives.")


class InsuranceOutput(BaseModel):
    """The insurance charges model's output."""

    charges: float = Field(description="Individual medical costs billed by health insurance, in US dollars.")


class NoopModel(MLModel):
    """A model that does no work: the request costs only what the framework spends on it."""

    display_name = "No-op Model"
    qualified_name = "noop_model"
    description = "Returns the age it was given; measures the serving framework alone."
    version = "1.0.0"
    input_schema = InsuranceInput
    output_schema = InsuranceOutput

    def __init__(self) -> None:
        """Nothing to load."""

    def predict(self, data: InsuranceInput) -> InsuranceOutput:  # type: ignore[override]
        """Echo a number of the input."""
        return InsuranceOutput(charges=float(data.age))


class InsuranceModel(MLModel):
    """The insurance charges example model, loading its pipeline with joblib."""

    display_name = "Insurance Charges Model"
    qualified_name = "insurance_charges_model"
    description = "Model to predict the insurance charges of a customer."
    version = "0.1.0"
    input_schema = InsuranceInput
    output_schema = InsuranceOutput

    def __init__(self, model_path: str | None = None) -> None:
        """Load the pipeline from ``model_path`` (default: ``$BENCH_INSURANCE_MODEL``)."""
        import joblib

        path = Path(model_path or os.environ["BENCH_INSURANCE_MODEL"])
        self._pipeline: Any = joblib.load(path)

    def predict(self, data: InsuranceInput) -> InsuranceOutput:  # type: ignore[override]
        """Predict the charges of one customer."""
        row = np.array([[data.age, data.sex.value, data.bmi, data.children, data.smoker, data.region.value]],
                       dtype=object)
        return InsuranceOutput(charges=round(float(self._pipeline.predict(row)[0]), 2))
