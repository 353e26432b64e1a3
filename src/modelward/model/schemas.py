"""Schemas that are part of the model interface itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class PredictionNotAvailable(BaseModel):
    """Schema returned when a prediction is not available because of a policy decision."""

    model_config = ConfigDict(title="PredictionNotAvailable")

    messages: list[str] = Field(description="Why the prediction was withheld.")
    _status_code: int = PrivateAttr(default=200)

    @property
    def status_code(self) -> int:
        """The HTTP status the service answers with (configurable by the decorator; default 200)."""
        return self._status_code

    def with_status(self, status_code: int) -> PredictionNotAvailable:
        """Set the HTTP status for this answer and return it."""
        self._status_code = status_code
        return self
