"""The model interface: a small, ``ml_base``-compatible ``MLModel``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel


class MLModel(ABC):
    """Base class for a model's prediction code.

    The same contract as ``ml_base.MLModel``: metadata properties, pydantic input and output
    schemas, and ``predict(data)``. Classes written for ``ml_base`` are accepted unchanged by
    modelward (see ``modelward.model.interop``).
    """

    def __repr__(self) -> str:
        return self.__class__.__name__

    @property
    @abstractmethod
    def display_name(self) -> str:
        """A name that reads well in user interfaces."""

    @property
    @abstractmethod
    def qualified_name(self) -> str:
        """An unambiguous identifier of the model, used in URLs."""

    @property
    @abstractmethod
    def description(self) -> str:
        """What the model does."""

    @property
    @abstractmethod
    def version(self) -> str:
        """The model's version as a string."""

    @property
    @abstractmethod
    def input_schema(self) -> type[BaseModel]:
        """The pydantic model that ``predict`` accepts."""

    @property
    @abstractmethod
    def output_schema(self) -> Any:
        """The pydantic model (or type) that ``predict`` returns."""

    @abstractmethod
    def predict(self, data: Any) -> Any:
        """Make a prediction from an instance of ``input_schema``."""
