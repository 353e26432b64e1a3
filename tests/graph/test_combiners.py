"""The built-in combiners on their own."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from modelward.graph.combiners import AverageCombiner, MajorityVoteCombiner, WeightedAverageCombiner
from tests.fixtures import EchoOutput


def test_average_takes_the_mean_of_numeric_fields_and_the_first_childs_others() -> None:
    combiner = AverageCombiner()
    combiner.setup(["a", "b"], EchoOutput)
    out = combiner.aggregate([EchoOutput(doubled=2, label="a"), EchoOutput(doubled=6, label="b")])
    assert out == EchoOutput(doubled=4, label="a")


def test_weighted_average_uses_the_weights() -> None:
    combiner = WeightedAverageCombiner(weights=[3, 1])
    combiner.setup(["a", "b"], EchoOutput)
    assert combiner.aggregate([EchoOutput(doubled=2, label="a"), EchoOutput(doubled=6, label="b")]).doubled == 3.0
    plain = WeightedAverageCombiner(weights=[1, 3])
    plain.setup(["a", "b"], float)
    assert plain.aggregate([2.0, 6.0]) == 5.0


def test_majority_vote_returns_the_most_common_answer_and_the_earliest_on_a_tie() -> None:
    vote = MajorityVoteCombiner()
    a, b = EchoOutput(doubled=1, label="a"), EchoOutput(doubled=2, label="b")
    assert vote.aggregate([a, b, b]) == b
    assert vote.aggregate([a, b]) == a


class Words(BaseModel):
    text: str


def test_averages_refuse_answers_without_numbers_and_wrong_weight_counts() -> None:
    with pytest.raises(ValueError, match="no numeric field"):
        AverageCombiner().setup(["a", "b"], Words)
    with pytest.raises(ValueError, match="2 weight"):
        WeightedAverageCombiner(weights=[1, 2]).setup(["a", "b", "c"], EchoOutput)
