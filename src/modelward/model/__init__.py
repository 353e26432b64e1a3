"""The model interface: ``MLModel``, ``MLModelDecorator`` and helpers (``ml_base`` compatible)."""

from modelward.model.base import MLModel
from modelward.model.context import annotate, current_request_id
from modelward.model.decorator import MLModelDecorator, unwrap
from modelward.model.feedback import Feedback, receives_feedback
from modelward.model.interop import enable_ml_base_interop, is_model, missing_members
from modelward.model.schemas import PredictionNotAvailable

__all__ = [
    "Feedback",
    "MLModel",
    "MLModelDecorator",
    "PredictionNotAvailable",
    "annotate", "current_request_id", "enable_ml_base_interop", "is_model", "missing_members",
    "receives_feedback", "unwrap"]
