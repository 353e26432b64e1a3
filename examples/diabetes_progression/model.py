"""The diabetes progression model: a ridge regression on scikit-learn's bundled diabetes data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from example_support import PipelineModel

from diabetes_progression.schemas import DiabetesProgressionInput, DiabetesProgressionOutput

MODEL_FILE = Path(__file__).parent / "model_files" / "model.skops"
FEATURES = ["age", "sex", "bmi", "blood_pressure", "total_cholesterol", "ldl", "hdl", "tch", "ltg", "glucose"]


def to_row(data: DiabetesProgressionInput) -> np.ndarray:
    """One input as a raw feature row (sex coded 1 = female, 2 = male, as in the source data)."""
    values = data.model_dump()
    values["sex"] = 2.0 if data.sex.value == "male" else 1.0
    return np.array([[float(values[name]) for name in FEATURES]])


class DiabetesProgressionModel(PipelineModel):
    """Predicts diabetes progression one year after baseline."""

    model_file = MODEL_FILE
    display_name = "Diabetes Progression Model"
    qualified_name = "diabetes_progression_model"
    description = "Predicts a quantitative measure of diabetes progression one year after baseline."
    version = "0.1.0"
    input_schema = DiabetesProgressionInput
    output_schema = DiabetesProgressionOutput

    def predict(self, data: DiabetesProgressionInput) -> DiabetesProgressionOutput:
        value = float(self._pipeline.predict(to_row(data))[0])
        return DiabetesProgressionOutput(progression=round(value, 2))
