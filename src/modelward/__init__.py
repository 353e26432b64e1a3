"""modelward: deploy machine-learning models that owners, operators and auditors can trust."""

from modelward.errors import ModelwardError
from modelward.model import MLModel, MLModelDecorator

__version__ = "0.1.0"

__all__ = ["MLModel", "MLModelDecorator", "ModelwardError", "__version__"]
