"""The insurance charges model: a scikit-learn pipeline behind the MLModel interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from example_support import PipelineModel

from insurance_charges.schemas import InsuranceChargesModelInput, InsuranceChargesModelOutput

MODEL_FILE = Path(__file__).parent / "model_files" / "model.skops"


def to_row(data: InsuranceChargesModelInput) -> np.ndarray:
    """One input as the pipeline's single row (columns as in training)."""
    return to_rows([data])


def to_rows(items: list[InsuranceChargesModelInput]) -> np.ndarray:
    """Many inputs as one table of rows (columns as in training)."""
    return np.array([[d.age, d.sex.value, d.bmi, d.children, d.smoker, d.region.value] for d in items],
                    dtype=object)


class InsuranceChargesModel(PipelineModel):
    """Predicts the medical insurance charges of a customer."""

    model_file = MODEL_FILE
    display_name = "Insurance Charges Model"
    qualified_name = "insurance_charges_model"
    description = "Model to predict the insurance charges of a customer."
    version = "0.1.0"
    input_schema = InsuranceChargesModelInput
    output_schema = InsuranceChargesModelOutput

    def predict(self, data: InsuranceChargesModelInput) -> InsuranceChargesModelOutput:
        charges = float(self._pipeline.predict(to_row(data))[0])
        return InsuranceChargesModelOutput(charges=round(charges, 2))

    def predict_batch(self, items: list[InsuranceChargesModelInput]) -> list[InsuranceChargesModelOutput]:
        """Many predictions with one call of the pipeline on a table of all the rows (adaptive batching)."""
        charges = self._pipeline.predict(to_rows(items))
        return [InsuranceChargesModelOutput(charges=round(float(value), 2)) for value in charges]


class InsuranceChargesChallenger(InsuranceChargesModel):
    """The challenger: the same model trained with other hyperparameters (``train.py --challenger``).

    Same qualified name, so both are versions of one model in the catalog and the outlier step fitted
    for it can stand in front of the bandit that chooses between them.
    """

    version = "0.2.0"
