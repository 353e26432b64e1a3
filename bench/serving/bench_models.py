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
import sys
from pathlib import Path
from typing import Any

import numpy as np
from ml_base import MLModel

# the example's schemas need only pydantic, so every server (rest-model-service's env too) imports them
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from insurance_charges.schemas import (
    InsuranceChargesModelInput as InsuranceInput,
)
from insurance_charges.schemas import (
    InsuranceChargesModelOutput as InsuranceOutput,
)


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
