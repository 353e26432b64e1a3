"""The model code in the toy image (/service): y = slope * x + intercept, from a verified package."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from modelward.artifacts import Keyring, load_verified
from modelward.model import MLModel


class ToyInput(BaseModel):
    x: float


class ToyOutput(BaseModel):
    y: float


class PackagedToyModel(MLModel):
    """Reads ``weights.json`` from the package at ``package``, verified with ``keyring`` first."""

    display_name = "Toy Model"
    qualified_name = "toy_model"
    description = "A linear model whose weights come from a signed package."
    input_schema = ToyInput
    output_schema = ToyOutput

    def __init__(self, package: str, keyring: str) -> None:
        with load_verified(package, Keyring.load(Path(keyring))) as verified:
            weights = json.loads(verified.read_bytes("weights.json"))
            self._version = verified.manifest.model.version
        self.slope = float(weights["slope"])
        self.intercept = float(weights["intercept"])

    @property
    def version(self) -> str:
        return self._version

    def predict(self, data: ToyInput) -> ToyOutput:
        return ToyOutput(y=round(self.slope * data.x + self.intercept, 6))
