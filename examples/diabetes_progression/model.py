"""The diabetes progression model: a ridge regression on scikit-learn's bundled diabetes data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from diabetes_progression.schemas import DiabetesProgressionInput, DiabetesProgressionOutput
from modelward.artifacts import Keyring, load_verified
from modelward.model import MLModel
from modelward.settings import load_settings

logger = logging.getLogger(__name__)
MODEL_FILE = Path(__file__).parent / "model_files" / "model.joblib"
FEATURES = ["age", "sex", "bmi", "blood_pressure", "total_cholesterol", "ldl", "hdl", "tch", "ltg", "glucose"]


def to_row(data: DiabetesProgressionInput) -> np.ndarray:
    """One input as a raw feature row (sex coded 1 = female, 2 = male, as in the source data)."""
    values = data.model_dump()
    values["sex"] = 2.0 if data.sex.value == "male" else 1.0
    return np.array([[float(values[name]) for name in FEATURES]])


def load_package(package: str, keyring: str | None, qualified_name: str) -> Any:
    """Verify the signed package completely, then load ``model.joblib`` with its recorded allow-list."""
    settings = load_settings()
    ring_path = keyring or settings.keyring
    if ring_path is None:
        raise ValueError("a signed package needs a keyring: set `keyring` or MODELWARD_KEYRING")
    secret = settings.legacy_hmac_secret.get_secret_value() if settings.legacy_hmac_secret else None
    with load_verified(package, Keyring.load(ring_path), max_expansion_bytes=settings.max_expansion_bytes,
                       endpoint_url=settings.s3_endpoint_url, legacy_secret=secret) as verified:
        if verified.manifest.model.qualified_name != qualified_name:
            raise ValueError(f"{package} holds model '{verified.manifest.model.qualified_name}', "
                             f"not '{qualified_name}'")
        logger.info("verified %s: signed by %s at %s", package, verified.key_id, verified.signed_at)
        return verified.load("model.joblib")


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
        if package:
            self._pipeline: Any = load_package(package, keyring, self.qualified_name)
            return
        path = Path(model_path) if model_path else MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"model parameters not found at {path}; train them with "
                "`python -m diabetes_progression.train`"
            )
        if not load_settings().allow_unsigned:
            raise PermissionError(
                f"refusing to load unsigned model parameters from {path}: configure a signed `package` "
                "(docs/artifacts.md), or set MODELWARD_ALLOW_UNSIGNED=true for local development"
            )
        logger.warning("loading UNVERIFIED model parameters from %s (MODELWARD_ALLOW_UNSIGNED is set)", path)
        self._pipeline = joblib.load(path)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> DiabetesProgressionModel:
        """A model around a pipeline already in memory (the training script records its known cases)."""
        model = cls.__new__(cls)
        model._pipeline = pipeline
        return model

    def predict(self, data: DiabetesProgressionInput) -> DiabetesProgressionOutput:
        value = float(self._pipeline.predict(to_row(data))[0])
        return DiabetesProgressionOutput(progression=round(value, 2))
