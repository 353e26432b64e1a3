"""Interoperability with ``ml_base`` (the PyPI package ``ml-base``), when it is installed.

modelward does not depend on ``ml_base``. When it is importable, ``enable_ml_base_interop()`` makes
each package's ``MLModel`` accept the other's instances, so that an ``ml_base`` decorator can wrap a
modelward model and a modelward decorator can wrap an ``ml_base`` model.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

_REQUIRED = ("qualified_name", "display_name", "description", "version", "input_schema", "output_schema")


def is_model(obj: Any) -> bool:
    """True when ``obj`` is a modelward or ``ml_base`` model (or decorator) instance."""
    from modelward.model.base import MLModel

    if isinstance(obj, MLModel):
        return True
    base = _ml_base_model_class()
    return base is not None and isinstance(obj, base)


@cache
def _ml_base_model_class() -> type | None:
    try:
        module = importlib.import_module("ml_base.ml_model")
    except ImportError:
        return None
    cls = getattr(module, "MLModel", None)
    return cls if isinstance(cls, type) else None


@cache
def enable_ml_base_interop() -> bool:
    """Make modelward models pass ``isinstance(x, ml_base.MLModel)``; False if ml_base is absent.

    The other direction (an ``ml_base`` model inside a modelward decorator) needs no registration:
    ``is_model`` accepts both. ABCs refuse mutual registration, so only one side is registered.
    """
    from modelward.model.base import MLModel

    base = _ml_base_model_class()
    if base is None:
        return False
    base.register(MLModel)  # type: ignore[attr-defined]
    return True


def missing_members(obj: Any) -> list[str]:
    """The parts of the model interface that ``obj`` lacks (empty for a usable model)."""
    missing = [name for name in _REQUIRED if not hasattr(obj, name)]
    if not callable(getattr(obj, "predict", None)):
        missing.append("predict")
    return missing
