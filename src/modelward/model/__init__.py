"""The model interface: ``MLModel``, ``MLModelDecorator`` and helpers (``ml_base`` compatible)."""

from modelward.model.base import MLModel
from modelward.model.decorator import MLModelDecorator, unwrap
from modelward.model.interop import enable_ml_base_interop, is_model, missing_members
from modelward.model.schemas import PredictionNotAvailable

__all__ = [
    "MLModel",
    "MLModelDecorator",
    "PredictionNotAvailable",
    "enable_ml_base_interop", "is_model", "missing_members", "unwrap"]
