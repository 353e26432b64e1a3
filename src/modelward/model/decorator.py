"""``MLModelDecorator``: wrap a model, change what you override, forward everything else.

Semantics follow ``ml_base.decorator.MLModelDecorator``: the constructor takes the decorator's own
configuration as keyword arguments (kept in ``_configuration``), ``set_model()`` attaches the model
and returns the decorator, attribute reads and writes that the decorator does not define go to the
wrapped model, and ``repr`` reads ``PolicyDecorator(InsuranceChargesModel)``.

Chains: in a service config, the *first* decorator listed wraps the model directly (innermost) and
the *last* one listed is outermost, so a request passes through the list from the end to the start.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelward.errors import ConfigurationError
from modelward.model.base import MLModel
from modelward.model.interop import is_model


class MLModelDecorator(MLModel):
    """Base class for decorators; by default every call is forwarded to the wrapped model."""

    _decorator_attributes = ("_model", "_configuration")

    def __init__(self, model: MLModel | None = None, **kwargs: Any) -> None:
        if model is not None and not is_model(model):
            raise ValueError("Only objects of type MLModel can be wrapped with MLModelDecorator instances.")
        self.__dict__["_model"] = model
        self.__dict__["_configuration"] = kwargs

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.__dict__['_model']!s})"

    def set_model(self, model: MLModel) -> MLModelDecorator:
        """Attach the model to wrap and return this decorator."""
        if not is_model(model):
            raise ValueError("Only objects of type MLModel can be wrapped with MLModelDecorator instances.")
        self.__dict__["_model"] = model
        return self

    @property
    def model(self) -> MLModel:
        """The wrapped model (or decorator)."""
        inner = self.__dict__["_model"]
        if inner is None:
            raise AttributeError(f"{type(self).__name__} has no model set; call set_model() first")
        return inner  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        if name in MLModelDecorator._decorator_attributes:
            return self.__dict__[name]
        inner = self.__dict__.get("_model")
        if inner is None:
            raise AttributeError(f"{type(self).__name__} has no model set, so it has no '{name}'; "
                                 "call set_model() first")
        return getattr(inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # The decorator's own state (underscore names, or attributes its class defines) stays on
        # the decorator; everything else is written through to the wrapped model, as in ml_base.
        if name.startswith("_") or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            setattr(self.model, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.model, name)

    @property
    def display_name(self) -> str:
        return self.model.display_name

    @property
    def qualified_name(self) -> str:
        return self.model.qualified_name

    @property
    def description(self) -> str:
        return self.model.description

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def input_schema(self) -> type[BaseModel]:
        return self.model.input_schema

    @property
    def output_schema(self) -> Any:
        return self.model.output_schema

    def predict(self, data: Any) -> Any:
        return self.model.predict(data=data)

    def predict_batch(self, items: list[Any]) -> list[Any]:
        """Predictions for many inputs, in order.

        A decorator that does not override ``predict`` forwards the whole batch to the wrapped model
        (so the model's vectorized ``predict_batch`` is reached); one that overrides ``predict`` but
        not ``predict_batch`` sees every input individually through its own ``predict``.
        """
        if type(self).predict is not MLModelDecorator.predict:
            return [self.predict(item) for item in items]
        return predict_many(self.model, items)


def batches(model: Any) -> bool:
    """Whether some layer of the chain takes a batch itself (defines ``predict_batch``, not inherited)."""
    layer = model
    while layer is not None:
        method = getattr(type(layer), "predict_batch", None)
        if callable(method) and method is not MLModelDecorator.predict_batch:
            return True
        layer = getattr(layer, "__dict__", {}).get("_model")
    return False


def predict_many(model: Any, items: list[Any]) -> list[Any]:
    """``model.predict_batch(items)`` when its class defines one, else ``predict`` for each input.

    The method is looked up on the class: an ``ml_base`` decorator forwards unknown attributes to
    the model it wraps, and calling that model's ``predict_batch`` would skip the decorator.
    """
    if callable(getattr(type(model), "predict_batch", None)):
        outputs = model.predict_batch(items)
        if not isinstance(outputs, list) or len(outputs) != len(items):
            got = f"{len(outputs)} outputs" if isinstance(outputs, list) else type(outputs).__name__
            raise ValueError(f"{type(model).__name__}.predict_batch returned {got} for {len(items)} inputs")
        return outputs
    return [model.predict(item) for item in items]


def unwrap(model: Any) -> Any:
    """The innermost model under any number of decorators (ours or ``ml_base``'s)."""
    while True:
        inner = getattr(model, "__dict__", {}).get("_model")
        if inner is None:
            return model
        model = inner


Options = TypeVar("Options", bound=BaseModel)


def validation_problems(exc: ValidationError) -> str:
    """Every problem of a pydantic validation, as ``dotted.location: message; ...``."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))


def parse_options(cls: type[Options], options: dict[str, Any], who: str) -> Options:
    """A decorator's configuration validated, or one ``ConfigurationError`` naming every bad key."""
    try:
        return cls.model_validate(options)
    except ValidationError as exc:
        raise ConfigurationError(f"{who}: {validation_problems(exc)}") from None
