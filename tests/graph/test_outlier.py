"""The outlier step: detector scoring and its file, and the decorator (tag, refuse, batches, metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelward.errors import ConfigurationError
from modelward.graph.outlier import (
    META_KEY,
    CategoricalFeature,
    Detector,
    FittedFor,
    NumericFeature,
    OutlierDetector,
)
from modelward.graph.outlier_fit import fit_detector
from modelward.model import PredictionNotAvailable, predict_many
from modelward.model.context import response_metadata
from tests.graph.outlier_fixtures import ABSURD, NORMAL, Applicant, QuoteModel, training_rows


@pytest.fixture(scope="module")
def detector() -> Detector:
    return fit_detector(training_rows(), Applicant, contamination=0.01,
                        model=FittedFor(qualified_name="quote_model", version="1.0.0"))


def with_meta(fn: Any, *args: Any) -> tuple[Any, dict[str, Any]]:
    """``fn(*args)`` inside a request's metadata context, as the data plane runs it."""
    meta: dict[str, Any] = {}
    token = response_metadata.set(meta)
    try:
        return fn(*args), meta
    finally:
        response_metadata.reset(token)


def item(document: dict[str, Any]) -> Applicant:
    return Applicant.model_validate(document)


# --- the detector -------------------------------------------------------------------------------------


def test_an_obvious_outlier_scores_far_above_the_threshold_and_training_rows_mostly_below(detector: Detector) -> None:
    scores = [detector.score(item(row)) for row in training_rows()]
    above = sum(score > detector.threshold for score in scores) / len(scores)
    assert 0.005 <= above <= 0.015  # contamination 0.01: the threshold is the training scores' 99% quantile
    assert detector.score(item(NORMAL)) < detector.training_quantiles["0.9"]
    assert detector.score(item(ABSURD)) > 10 * detector.threshold
    fresh = [detector.score(item(row)) for row in training_rows(500, seed=99)]  # unseen rows from the same law
    assert sum(score > detector.threshold for score in fresh) / len(fresh) < 0.04


def test_a_joint_outlier_is_caught_though_each_value_is_ordinary(detector: Detector) -> None:
    # age 25 and income 75k are each common; together they break the age-income relation of the data
    odd = {**NORMAL, "age": 25, "income": 75_000.0}
    assert detector.score(item(odd)) > detector.threshold
    assert detector.score(item({**NORMAL, "age": 25, "income": 42_500.0})) < detector.threshold


def test_a_category_never_seen_in_training_is_an_outlier(detector: Detector) -> None:
    assert detector.score({**NORMAL, "region": "atlantis"}) > 3 * detector.threshold


def test_the_detector_file_is_json_and_round_trips(detector: Detector, tmp_path: Path) -> None:
    path = detector.write(tmp_path / "outlier_detector.json")
    document = json.loads(path.read_text(encoding="utf-8"))  # plain JSON: nothing in it can run
    assert document["format"] == "modelward-outlier/1"
    assert [f["name"] for f in document["features"]] == ["age", "income", "region", "plan", "member"]
    loaded = Detector.from_bytes(path.read_bytes(), str(path))
    assert loaded == detector
    assert loaded.score(item(ABSURD)) == detector.score(item(ABSURD))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: {**d, "precision": d["precision"][:-1]}, "precision must be a 9x9 matrix"),
    (lambda d: {**d, "location": [*d["location"], 0.0]}, "location has 10 values, the features encode to 9 columns"),
    (lambda d: {**d, "threshold": -1}, "threshold: Input should be greater than 0"),
    (lambda d: {**d, "format": "modelward-outlier/9"}, "format: Input should be 'modelward-outlier/1'"),
    (lambda d: {**d, "method": "pickle"}, "method: Input should be 'mahalanobis'"),
    (lambda d: {**d, "extra": 1}, "extra: Extra inputs are not permitted"),
])
def test_a_bad_detector_file_is_one_error_naming_the_field(detector: Detector, change: Any, message: str) -> None:
    document = change(json.loads(detector.to_bytes()))
    with pytest.raises(ConfigurationError) as info:
        Detector.from_bytes(json.dumps(document).encode(), "pkg.zip!outlier_detector.json")
    assert str(info.value).startswith("pkg.zip!outlier_detector.json: not a modelward-outlier/1 detector: ")
    assert message in str(info.value)


def test_a_file_that_is_not_json_is_refused(detector: Detector) -> None:
    with pytest.raises(ConfigurationError, match=r"^d\.json: not a modelward-outlier/1 detector: \(root\): Invalid"):
        Detector.from_bytes(b"\x80\x04K\x01.", "d.json")  # a pickle's bytes are not a detector


# --- the decorator ------------------------------------------------------------------------------------


def test_tag_mode_adds_the_verdict_to_the_metadata_and_counts_outliers(detector: Detector) -> None:
    model = QuoteModel()
    step = OutlierDetector(fitted=detector).set_model(model)
    answer, meta = with_meta(step.predict, item(NORMAL))
    assert answer.price > 0
    assert meta[META_KEY]["is_outlier"] is False and meta[META_KEY]["threshold"] == round(detector.threshold, 6)
    assert 0 < meta[META_KEY]["score"] < detector.threshold
    answer, meta = with_meta(step.predict, item(ABSURD))
    assert answer.price > 0 and len(model.seen) == 2  # tagged, still predicted
    assert meta[META_KEY]["is_outlier"] is True and meta[META_KEY]["score"] > detector.threshold
    samples = {(name, labels["action"]): value for name, _, labels, value in step.metric_samples()
               if name == "modelward_outliers"}
    assert samples == {("modelward_outliers", "tagged"): 1.0, ("modelward_outliers", "refused"): 0.0}
    assert step.health_problems() == []


def test_refuse_mode_withholds_the_prediction_with_a_4xx_and_a_clear_message(detector: Detector) -> None:
    model = QuoteModel()
    step = OutlierDetector(fitted=detector, mode="refuse").set_model(model)
    answer, meta = with_meta(step.predict, item(ABSURD))
    assert isinstance(answer, PredictionNotAvailable) and answer.status_code == 422
    (message,) = answer.messages
    assert message.startswith("the input to model 'quote_model' is an outlier: score ")
    assert f"above the threshold {detector.threshold:.3f}; no prediction is made for it" in message
    assert model.seen == []  # the model never saw it
    assert meta[META_KEY]["is_outlier"] is True
    assert step.output_schema.__name__ == "Quote"  # Quote, or PredictionNotAvailable
    assert "PredictionNotAvailable" in json.dumps(step.output_schema.model_json_schema())
    answer, _ = with_meta(step.predict, item(NORMAL))
    assert not isinstance(answer, PredictionNotAvailable)
    step_403 = OutlierDetector(fitted=detector, mode="refuse", denial_status=403).set_model(QuoteModel())
    assert with_meta(step_403.predict, item(ABSURD))[0].status_code == 403


def test_a_batch_is_scored_row_by_row_and_only_the_outlier_is_refused(detector: Detector) -> None:
    model = QuoteModel()
    step = OutlierDetector(fitted=detector, mode="refuse").set_model(model)
    rows = [item(NORMAL), item(ABSURD), item({**NORMAL, "age": 45})]
    outputs, meta = with_meta(predict_many, step, rows)
    assert [type(o).__name__ for o in outputs] == ["Quote", "PredictionNotAvailable", "Quote"]
    assert model.batches == [2]  # the two normal rows went to the model together
    assert [v["is_outlier"] for v in meta[META_KEY]] == [False, True, False]  # one verdict per row, in order
    refused = {labels["action"]: value for name, _, labels, value in step.metric_samples()
               if name == "modelward_outliers"}
    assert refused == {"tagged": 0.0, "refused": 1.0}


def test_a_batch_whose_model_fails_records_no_verdict_so_a_retry_records_each_once(detector: Detector) -> None:
    class Failing(QuoteModel):
        def predict_batch(self, items: list[Any]) -> list[Any]:
            raise RuntimeError("boom")

    step = OutlierDetector(fitted=detector).set_model(Failing())
    meta: dict[str, Any] = {}
    token = response_metadata.set(meta)
    try:
        with pytest.raises(RuntimeError):
            predict_many(step, [item(NORMAL), item(ABSURD)])
        assert META_KEY not in meta
        step.predict(item(ABSURD))  # the batcher retries a failed batch one request at a time
    finally:
        response_metadata.reset(token)
    assert meta[META_KEY]["is_outlier"] is True


def test_a_row_that_cannot_be_scored_fails_only_itself(detector: Detector) -> None:
    # a detector that reads `note` (a string) as a number cannot score any row: tag passes, refuse withholds
    broken = detector.model_copy(update={"features": (*detector.features[:5], NumericFeature(name="note", mean=0,
                                                                                                 std=1))})
    tagging = OutlierDetector(fitted=broken).set_model(QuoteModel())
    outputs, meta = with_meta(predict_many, tagging, [item(NORMAL), item(ABSURD)])
    assert [type(o).__name__ for o in outputs] == ["Quote", "Quote"]
    assert meta[META_KEY][0] == {"error": "field 'note' is not a number (str)",
                                 "threshold": round(detector.threshold, 6), "is_outlier": None}
    assert tagging.health_problems() == ["outlier detector of quote_model: the last input could not be scored: "
                                         "field 'note' is not a number (str)"]
    errors = [value for name, _, _, value in tagging.metric_samples() if name == "modelward_outlier_errors"]
    assert errors == [2.0]
    refusing = OutlierDetector(fitted=broken, mode="refuse").set_model(QuoteModel())
    (answer,) = with_meta(predict_many, refusing, [item(NORMAL)])[0]
    assert answer.messages == ["the input to model 'quote_model' cannot be checked for outliers: field 'note' is "
                               "not a number (str)"]


def test_a_configured_threshold_overrides_the_fitted_one(detector: Detector) -> None:
    step = OutlierDetector(fitted=detector, threshold=0.5).set_model(QuoteModel())
    _, meta = with_meta(step.predict, item(NORMAL))
    assert meta[META_KEY]["threshold"] == 0.5 and meta[META_KEY]["is_outlier"] is True


def test_outside_a_request_the_step_predicts_without_metadata(detector: Detector) -> None:
    step = OutlierDetector(fitted=detector).set_model(QuoteModel())
    assert step.predict(item(ABSURD)).price > 0


@pytest.mark.parametrize(("options", "message"), [
    ({"mode": "drop"}, "OutlierDetector: mode: Input should be 'tag' or 'refuse'"),
    ({"denial_status": 503}, "OutlierDetector: denial_status: Input should be less than or equal to 499"),
    ({"threshold": 0}, "OutlierDetector: threshold: Input should be greater than 0"),
    ({"colour": "red"}, "OutlierDetector: colour: Extra inputs are not permitted"),
])
def test_bad_configuration_is_one_error_naming_the_key(detector: Detector, options: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{message}"):
        OutlierDetector(fitted=detector, **options)


def test_a_detector_for_another_schema_or_model_is_refused_when_attached(detector: Detector) -> None:
    other = detector.model_copy(update={"features": (*detector.features[:5], CategoricalFeature(name="colour",
                                                                                                 levels=("red",)))})
    with pytest.raises(ConfigurationError, match=r"feature\(s\) colour are not in the input schema of model "
                                                 r"'quote_model'"):
        OutlierDetector(fitted=other).set_model(QuoteModel())
    foreign = detector.model_copy(update={"model": FittedFor(qualified_name="insurance_charges_model")})
    with pytest.raises(ConfigurationError, match="fitted for model 'insurance_charges_model', not 'quote_model'"):
        OutlierDetector(fitted=foreign).set_model(QuoteModel())


def test_a_bare_detector_file_is_read_only_when_unsigned_files_are_allowed(detector: Detector, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = detector.write(tmp_path / "outlier_detector.json")
    monkeypatch.delenv("MODELWARD_ALLOW_UNSIGNED", raising=False)
    with pytest.raises(ConfigurationError, match=r"refusing to read the unsigned detector file .*SignedOutlier"):
        OutlierDetector(detector=str(path))
    monkeypatch.setenv("MODELWARD_ALLOW_UNSIGNED", "true")
    assert OutlierDetector(detector=str(path)).detector == detector
    with pytest.raises(ConfigurationError, match=r"cannot read .*nope.json: No such file"):
        OutlierDetector(detector=str(tmp_path / "nope.json"))
