"""The data plane's vocabulary: reading the outlier step's scores out of an answer's metadata."""

from __future__ import annotations

from modelward.services.inference import outlier_scores


def test_outlier_scores_come_from_one_verdict_or_a_list_of_them() -> None:
    assert outlier_scores({}) == []
    assert outlier_scores({"outlier": {"score": 2.5, "threshold": 4.0, "is_outlier": False}}) == [2.5]
    verdicts = [{"score": 1, "is_outlier": False}, {"error": "field 'age' is not a number", "is_outlier": None},
                {"score": 9.0, "is_outlier": True}]
    assert outlier_scores({"outlier": verdicts, "route": "a"}) == [1.0, 9.0]  # an unscorable row has no score


def test_anything_else_under_the_key_is_ignored() -> None:
    assert outlier_scores({"outlier": "yes"}) == []
    assert outlier_scores({"outlier": [{"score": "high"}, {"score": True}, 3]}) == []
