"""The insurance charges model: a scikit-learn pipeline behind the MLModel interface."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from insurance_charges.schemas import InsuranceChargesModelInput, InsuranceChargesModelOutput
from modelward.artifacts import load_parameters
from modelward.model import MLModel

logger = logging.getLogger(__name__)
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
    def from_pipeline(cls, pipeline: Any) -> InsuranceChargesModel:
        """A model around a pipeline already in memory (the training script records its known cases)."""
        model = cls.__new__(cls)
        model._pipeline = pipeline
        return model

    def predict(self, data: InsuranceChargesModelInput) -> InsuranceChargesModelOutput:
        charges = float(self._pipeline.predict(to_row(data))[0])
        return InsuranceChargesModelOutput(charges=round(charges, 2))
