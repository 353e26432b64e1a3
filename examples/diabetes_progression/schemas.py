"""Input and output schemas of the diabetes progression model (scikit-learn's ``load_diabetes``).

The inputs are the raw clinical measurements; the model scales them as scikit-learn's bundled
data set does (mean-centred, scaled by the standard deviation times the square root of n).
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field


class SexEnum(str, Enum):
    """Sex as coded in the data set's source."""

    female = "female"
    male = "male"


class DiabetesProgressionInput(BaseModel):
    """Baseline measurements of one patient."""

    age: int = Field(ge=18, le=100, description="Age in years.")
    sex: SexEnum = Field(description="Sex of the patient.")
    bmi: float = Field(ge=10.0, le=60.0, description="Body mass index.")
    blood_pressure: float = Field(ge=40.0, le=200.0, description="Average blood pressure (mm Hg).")
    total_cholesterol: float = Field(ge=50.0, le=400.0, description="Total serum cholesterol (tc), mg/dL.")
    ldl: float = Field(ge=10.0, le=300.0, description="Low-density lipoproteins, mg/dL.")
    hdl: float = Field(ge=10.0, le=150.0, description="High-density lipoproteins, mg/dL.")
    tch: float = Field(ge=1.0, le=12.0, description="Total cholesterol / HDL.")
    ltg: float = Field(ge=2.0, le=8.0, description="Log of serum triglycerides level.")
    glucose: float = Field(ge=40.0, le=300.0, description="Blood sugar level, mg/dL.")


class DiabetesProgressionOutput(BaseModel):
    """Predicted progression."""

    progression: float = Field(description="Quantitative measure of disease progression one year after baseline.")
