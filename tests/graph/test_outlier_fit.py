"""Fitting the outlier detector on training inputs: which fields, which covariance, which threshold."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest
from pydantic import BaseModel

from modelward.errors import ConfigurationError
from modelward.graph.outlier import CategoricalFeature, NumericFeature
from modelward.graph.outlier_fit import feature_kind, fit_detector, schema_features
from tests.graph.outlier_fixtures import NORMAL, Applicant, Plan, training_rows


def test_the_schema_gives_numeric_and_categorical_features_and_skips_free_text_and_lists() -> None:
    assert schema_features(Applicant) == [("age", "numeric"), ("income", "numeric"), ("region", "categorical"),
                                          ("plan", "categorical"), ("member", "categorical")]
    assert schema_features(Applicant, ["income", "note"]) == [("income", "numeric"), ("note", "categorical")]
    assert feature_kind(int | None) == "numeric"
    assert feature_kind(Plan | None) == "categorical"
    assert feature_kind(Literal["a", "b"]) == "categorical"
    assert feature_kind(list[int]) is None
    assert feature_kind(int | str) is None  # a mix cannot be encoded one way


def test_fitted_features_record_what_training_saw() -> None:
    detector = fit_detector(training_rows(), Applicant)
    age, income, region, plan, member = detector.features
    assert isinstance(age, NumericFeature) and 38 < age.mean < 42 and 9 < age.std < 11
    assert isinstance(income, NumericFeature) and income.name == "income"
    assert region == CategoricalFeature(name="region", levels=("east", "north", "south"))
    assert plan == CategoricalFeature(name="plan", levels=("basic", "premium"))
    assert member == CategoricalFeature(name="member", levels=("false", "true"))
    assert detector.training_rows == 2000 and detector.covariance == "robust"
    assert detector.training_quantiles["0.99"] == detector.threshold


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.2])
def test_the_threshold_leaves_the_configured_share_of_training_rows_above_it(contamination: float) -> None:
    rows = training_rows()
    detector = fit_detector(rows, Applicant, contamination=contamination, covariance="empirical")
    above = np.mean([detector.score(row) for row in rows] > np.float64(detector.threshold))
    assert abs(above - contamination) <= 0.002


def test_robust_covariance_is_not_inflated_by_outliers_in_the_training_data() -> None:
    rows = training_rows()
    rng = np.random.default_rng(3)
    polluted = rows + [{**NORMAL, "age": int(rng.integers(90, 120)), "income": float(rng.normal(0, 200_000))}
                       for _ in range(100)]  # 5% gross errors in the training data
    odd = {**NORMAL, "age": 25, "income": 75_000.0}  # breaks the age-income relation of the clean data
    # contamination a little above the share of errors, so the threshold lies past all of them
    robust = fit_detector(polluted, Applicant, contamination=0.06, covariance="robust")
    empirical = fit_detector(polluted, Applicant, contamination=0.06, covariance="empirical")
    assert robust.score(odd) > robust.threshold
    assert empirical.score(odd) < empirical.threshold  # the errors stretched its covariance: missed


@pytest.mark.parametrize(("rows", "options", "message"), [
    (training_rows(), {"contamination": 0.5}, "contamination must be between 0 and 0.5, got 0.5"),
    (training_rows(10), {}, "10 training rows are too few to fit an outlier detector on 5 features"),
    ([*training_rows(50), {**NORMAL, "age": "old"}], {}, "training row 50: age: Input should be a valid integer"),
    (training_rows(), {"features": ["colour"]}, "Applicant: no field(s) colour to fit an outlier detector on"),
    (training_rows(), {"features": ["tags"]}, "Applicant.tags: an outlier detector takes numbers, booleans, enums"),
])
def test_bad_training_input_is_one_clear_error(rows: list[dict[str, Any]], options: dict[str, Any],
                                               message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        fit_detector(rows, Applicant, **options)
    assert message in str(info.value)


def test_a_schema_without_usable_fields_is_refused() -> None:
    class Texts(BaseModel):
        name: str
        items: list[int]

    with pytest.raises(ConfigurationError, match="Texts: no numeric or categorical field"):
        fit_detector([{"name": "a", "items": []}] * 20, Texts)


def test_only_categorical_features_fit_with_the_empirical_covariance() -> None:
    class Choice(BaseModel):
        plan: Plan
        member: bool

    rows = [{"plan": "basic" if i % 3 else "premium", "member": i % 2 == 0} for i in range(300)]
    detector = fit_detector(rows, Choice)
    assert detector.score({"plan": "premium", "member": True}) < detector.threshold * 1.01
    assert detector.score({"plan": "gold", "member": True}) > detector.threshold
