"""The diabetes progression model: a ridge regression on scikit-learn's bundled diabetes data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np

from diabetes_progression.schemas import DiabetesProgressionInput, DiabetesProgressionOutput
from modelward.model import MLModel

MODEL_FILE = Path(__file__).parent / "model_files" / "model.joblib"
FEATURES = ["age", "sex", "bmi", "blood_pressure", "total_cholesterol", "ldl", "hdl", "tch", "ltg", "glucose"]


def to_row(data: DiabetesProgressionInput) -> np.ndarray:
    """One input as a raw feature row (sex coded 1 = female, 2 = male, as in the source data)."""
    values = data.model_dump()
    values["sex"] = 2.0 if data.sex.value == "male" else 1.0
    return np.array([[float(values[name]) for name in FEATURES]])


class DiabetesProgressionModel(MLModel):
    """Predicts diabetes progression one year after baseline."""

    display_name = "Diabetes Progression Model"
    qualified_name = "diabetes_progression_model"
    description = "Predicts a quantitative measure of diabetes progression one year after baseline."
    version = "0.1.0"
    input_schema = DiabetesProgressionInput
    output_schema = DiabetesProgressionOutput

    def __init__(self, model_path: str | None = None) -> None:
        path = Path(model_path) if model_path else MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"model parameters not found at {path}; train them with "
                "`python -m diabetes_progression.train`"
            )
        self._pipeline: Any = joblib.load(path)

    def predict(self, data: DiabetesProgressionInput) -> DiabetesProgressionOutput:
        value = float(self._pipeline.predict(to_row(data))[0])
        return DiabetesProgressionOutput(progression=round(value, 2))
