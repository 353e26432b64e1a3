"""The bandit algorithms and the fixed split, on their own (state in memory)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from pydantic import BaseModel

from modelward.graph.routers import (
    EpsilonGreedyRouter,
    FixedWeightRouter,
    ThompsonSamplingRouter,
    best,
)
from modelward.graph.state import ArmStats
from tests.fixtures import EchoInput


def play(router: EpsilonGreedyRouter | ThompsonSamplingRouter, means: list[float], rounds: int,
         seed: int = 7) -> Counter[int]:
    """Route ``rounds`` requests, reward each arm as a Bernoulli draw of its mean; count the arms chosen."""
    rng = random.Random(seed)
    arms = [ArmStats() for _ in means]
    chosen: Counter[int] = Counter()
    for _ in range(rounds):
        arm = router.choose(arms, None, None)
        chosen[arm] += 1
        arms[arm] = arms[arm].add(1.0 if rng.random() < means[arm] else 0.0)
    return chosen


def test_best_is_the_highest_mean_and_the_default_before_any_feedback() -> None:
    assert best([ArmStats(), ArmStats()], default=1) == 1
    assert best([ArmStats(10, 3.0, 3.0), ArmStats(10, 7.0, 7.0)]) == 1
    assert best([ArmStats(4, 2.0, 2.0), ArmStats(2, 1.0, 1.0)]) == 0  # a tie: the lowest index


def test_epsilon_greedy_exploits_the_leader_and_explores_at_rate_epsilon() -> None:
    router = EpsilonGreedyRouter(epsilon=0.1, seed=1)
    arms = [ArmStats(10, 2.0, 2.0), ArmStats(10, 8.0, 8.0), ArmStats(10, 5.0, 5.0)]
    counts = Counter(router.choose(arms, None, None) for _ in range(10_000))
    assert 0.88 < counts[1] / 10_000 < 0.92
    assert counts[0] > 350 and counts[2] > 350  # exploration goes to the other arms, evenly


def test_epsilon_greedy_starts_on_the_configured_arm_and_finds_the_better_one() -> None:
    router = EpsilonGreedyRouter(epsilon=0.0, best_arm=1, seed=1)
    assert router.choose([ArmStats(), ArmStats()], None, None) == 1
    chosen = play(EpsilonGreedyRouter(epsilon=0.1, seed=3), [0.2, 0.8], 3000)
    assert chosen[1] > 2400


@pytest.mark.parametrize("reward", ["bernoulli", "gaussian"])
def test_thompson_sampling_converges_on_the_best_arm(reward: str) -> None:
    chosen = play(ThompsonSamplingRouter(reward=reward, seed=5), [0.3, 0.5, 0.7], 3000)
    assert chosen[2] > 0.8 * 3000


def test_thompson_gaussian_follows_means_of_continuous_rewards() -> None:
    router = ThompsonSamplingRouter(reward="gaussian", seed=2)
    rng = random.Random(4)
    arms = [ArmStats(), ArmStats()]
    chosen: Counter[int] = Counter()
    for _ in range(2000):
        arm = router.choose(arms, None, None)
        chosen[arm] += 1
        arms[arm] = arms[arm].add(rng.gauss([10.0, 12.0][arm], 3.0))
    assert chosen[1] > 1600


def test_beta_bernoulli_refuses_rewards_outside_zero_one_and_gaussian_takes_any() -> None:
    assert "in [0, 1]" in (ThompsonSamplingRouter().check_reward(2.5) or "")
    assert ThompsonSamplingRouter().check_reward(1.0) is None
    assert ThompsonSamplingRouter(reward="gaussian").check_reward(-40.0) is None


def test_fixed_weights_split_traffic_in_proportion() -> None:
    router = FixedWeightRouter(weights=[3, 1], seed=9)
    router.setup(["a", "b"], EchoInput)
    counts = Counter(router.choose([], None, None) for _ in range(20_000))
    assert 0.73 < counts[0] / 20_000 < 0.77


def test_sticky_split_sends_one_key_always_to_one_arm_and_keys_by_weight() -> None:
    router = FixedWeightRouter(weights=[1, 1], sticky_by="field:label")
    router.setup(["a", "b"], EchoInput)
    for label in ("alice", "bob", "carol"):
        first = router.choose([], EchoInput(value=1, label=label), None)
        assert {router.choose([], EchoInput(value=n, label=label), None) for n in range(20)} == {first}
    spread = Counter(router.choose([], EchoInput(value=1, label=f"c{n}"), None) for n in range(4000))
    assert 0.45 < spread[0] / 4000 < 0.55
    by_id = FixedWeightRouter(sticky_by="request_id")
    by_id.setup(["a", "b"], EchoInput)
    assert len({by_id.choose([], None, "req-42") for _ in range(20)}) == 1


class Other(BaseModel):
    a: int


@pytest.mark.parametrize(("router", "children", "message"), [
    (FixedWeightRouter(weights=[1, 2, 3]), ["a", "b"], "3 weight(s) for 2 children"),
    (FixedWeightRouter(sticky_by="field:customer"), ["a", "b"], "has no field 'customer'"),
    (EpsilonGreedyRouter(best_arm=4), ["a", "b"], "best_arm: 4 is not a child index"),
])
def test_router_setup_names_the_wrong_setting(router: FixedWeightRouter | EpsilonGreedyRouter,
                                              children: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        router.setup(children, Other)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: FixedWeightRouter(weights=[0, 0]), "not all zero"),
    (lambda: FixedWeightRouter(sticky_by="cookie"), "sticky_by"),
    (lambda: EpsilonGreedyRouter(epsilon=1.5), "epsilon"),
    (lambda: ThompsonSamplingRouter(reward="poisson"), "reward"),
])
def test_bad_router_configuration_is_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]
