"""The model interface: ``MLModel``, ``MLModelDecorator`` and helpers (``ml_base`` compatible)."""

from modelward.model.base import MLModel
from modelward.model.context import annotate, as_request, current_request_id
from modelward.model.decorator import MLModelDecorator, batches, predict_many, unwrap
from modelward.model.feedback import Feedback, receives_feedback
from modelward.model.interop import enable_ml_base_interop, is_model, missing_members
from modelward.model.schemas import PredictionNotAvailable

__all__ = [
    "Feedback",
    "MLModel",
    "MLModelDecorator",
    "PredictionNotAvailable",
    "annotate", "as_request", "batches", "current_request_id", "enable_ml_base_interop", "is_model", "missing_members",
    "predict_many", "receives_feedback", "unwrap"]
