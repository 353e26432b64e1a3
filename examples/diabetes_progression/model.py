"""The diabetes progression model: a ridge regression on scikit-learn's bundled diabetes data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from diabetes_progression.schemas import DiabetesProgressionInput, DiabetesProgressionOutput
from modelward.artifacts import load_parameters
from modelward.model import MLModel

logger = logging.getLogger(__name__)
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

    def __init__(self, model_path: str | None = None, package: str | None = None,
                 keyring: str | None = None) -> None:
        """Load the parameters from a signed ``package`` (verified first), else from ``model_path``.

        ``package`` is a package URI (path, ``file://`` or ``s3://``), verified with ``keyring``
        (default: ``$MODELWARD_KEYRING``) before anything in it is deserialized. ``model_path`` reads a
        bare joblib file, and only when ``MODELWARD_ALLOW_UNSIGNED`` is set (local development).
        """
        self._pipeline: Any = load_parameters(qualified_name=self.qualified_name, package=package,
                                              keyring=keyring, unsigned_path=model_path or MODEL_FILE)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> DiabetesProgressionModel:
        """A model around a pipeline already in memory (the training script records its known cases)."""
        model = cls.__new__(cls)
        model._pipeline = pipeline
        return model

    def predict(self, data: DiabetesProgressionInput) -> DiabetesProgressionOutput:
        value = float(self._pipeline.predict(to_row(data))[0])
        return DiabetesProgressionOutput(progression=round(value, 2))
