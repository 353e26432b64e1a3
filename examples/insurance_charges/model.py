"""The insurance charges model: a scikit-learn pipeline behind the MLModel interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np

from insurance_charges.schemas import InsuranceChargesModelInput, InsuranceChargesModelOutput
from modelward.model import MLModel

MODEL_FILE = Path(__file__).parent / "model_files" / "model.joblib"


def to_row(data: InsuranceChargesModelInput) -> np.ndarray:
    """One input as the pipeline's single row (columns as in training)."""
    return np.array([[data.age, data.sex.value, data.bmi, data.children, data.smoker, data.region.value]],
                    dtype=object)


class InsuranceChargesModel(MLModel):
    """Predicts the medical insurance charges of a customer."""

    display_name = "Insurance Charges Model"
    qualified_name = "insurance_charges_model"
    description = "Model to predict the insurance charges of a customer."
    version = "0.1.0"
    input_schema = InsuranceChargesModelInput
    output_schema = InsuranceChargesModelOutput

    def __init__(self, model_path: str | None = None) -> None:
        path = Path(model_path) if model_path else MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"model parameters not found at {path}; train them with "
                "`python -m insurance_charges.train`"
            )
        self._pipeline: Any = joblib.load(path)

    def predict(self, data: InsuranceChargesModelInput) -> InsuranceChargesModelOutput:
        charges = float(self._pipeline.predict(to_row(data))[0])
        return InsuranceChargesModelOutput(charges=round(charges, 2))
