"""The insurance model without its input range checks, to serve absurd inputs to the outlier step.

The example's schema refuses ``age: 500`` before any model runs; this variant (same pipeline, same
qualified name, so the same signed package) lets the test show the detector itself catching it.
Imported by `modelward serve` only (the config puts ``examples/`` on the path).
"""

from __future__ import annotations

from insurance_charges.model import InsuranceChargesModel
from insurance_charges.schemas import RegionEnum, SexEnum
from pydantic import BaseModel


class LooseInsuranceInput(BaseModel):
    """The insurance input with its types but none of its ranges."""

    age: int
    sex: SexEnum
    bmi: float
    children: int
    smoker: bool
    region: RegionEnum


class LooseInsuranceModel(InsuranceChargesModel):
    """The insurance charges model behind a schema that checks types only."""

    input_schema = LooseInsuranceInput
