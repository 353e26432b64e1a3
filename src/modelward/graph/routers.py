"""Routers: which child of a ROUTER node answers a request, learned from feedback.

Every router decides from the arms' ``ArmStats`` (kept in the graph's state store, so replicas
share them and restarts keep them); feedback adds a reward to the arm that was chosen. A custom
router subclasses ``Router`` and overrides ``choose`` (and ``check_reward`` if it needs a range).

| ``implementation`` | class | configuration |
|---|---|---|
| ``AB_TEST`` | ``FixedWeightRouter`` | ``weights`` (default equal), ``sticky_by`` (``request_id`` or ``field:NAME``) |
| ``EPSILON_GREEDY`` | ``EpsilonGreedyRouter`` | ``epsilon`` (0.1, Seldon's default), ``best_arm`` (0) |
| ``THOMPSON_SAMPLING`` | ``ThompsonSamplingRouter`` | ``reward``: ``bernoulli`` (rewards in [0, 1]) or ``gaussian`` |

Every router takes ``seed`` (an integer) for reproducible draws.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from modelward.graph.state import ArmStats


class Router:
    """Base class: ``choose`` returns the index of the child that answers."""

    def __init__(self, seed: int | None = None) -> None:
        self.random = random.Random(seed)

    def setup(self, children: Sequence[str], input_schema: type[BaseModel]) -> None:
        """Check the configuration against the node's children and input; raise ``ValueError`` if wrong."""

    def choose(self, arms: Sequence[ArmStats], data: Any, request_id: str | None) -> int:
        """The child (arm) that answers this input."""
        raise NotImplementedError

    def check_reward(self, reward: float) -> str | None:
        """Why a reward cannot be learned from (``None``: it can)."""
        return None

    @property
    def reads_state(self) -> bool:
        """Whether ``choose`` uses the arms' stats (a fixed split does not need them read)."""
        return True


def best(arms: Sequence[ArmStats], default: int = 0) -> int:
    """The arm with the highest mean reward (``default`` while no arm has feedback; ties: the lowest)."""
    if not any(arm.n for arm in arms):
        return default
    means = [arm.mean for arm in arms]
    return means.index(max(means))


class FixedWeightRouter(Router):
    """A/B(/n) split by fixed weights; sticky by the request id or an input field when configured."""

    def __init__(self, weights: list[float] | None = None, sticky_by: str | None = None,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        if weights is not None and (not weights or any(not math.isfinite(w) or w < 0 for w in weights)
                                    or sum(weights) <= 0):
            raise ValueError("weights: expected non-negative numbers, not all zero")
        if sticky_by is not None and sticky_by != "request_id" and not sticky_by.startswith("field:"):
            raise ValueError(f"sticky_by: expected 'request_id' or 'field:NAME', got '{sticky_by}'")
        self.weights = weights
        self.sticky_by = sticky_by
        self._cumulative: list[float] = []

    def setup(self, children: Sequence[str], input_schema: type[BaseModel]) -> None:
        weights = self.weights or [1.0] * len(children)
        if len(weights) != len(children):
            raise ValueError(f"weights: {len(weights)} weight(s) for {len(children)} children")
        total = sum(weights)
        running = 0.0
        self._cumulative = []
        for weight in weights:
            running += weight / total
            self._cumulative.append(running)
        if self.sticky_by and self.sticky_by.startswith("field:"):
            field = self.sticky_by.removeprefix("field:")
            if field not in input_schema.model_fields:
                raise ValueError(f"sticky_by: the input ({input_schema.__name__}) has no field '{field}'")

    @property
    def reads_state(self) -> bool:
        return False

    def choose(self, arms: Sequence[ArmStats], data: Any, request_id: str | None) -> int:
        key = self._key(data, request_id)
        point = self.random.random() if key is None else _uniform(key)
        for arm, edge in enumerate(self._cumulative):
            if point < edge:
                return arm
        return len(self._cumulative) - 1

    def _key(self, data: Any, request_id: str | None) -> str | None:
        if self.sticky_by is None:
            return None
        if self.sticky_by == "request_id":
            return request_id
        value = getattr(data, self.sticky_by.removeprefix("field:"), None)
        return None if value is None else str(value)


def _uniform(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` (the same key always lands on the same arm)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class EpsilonGreedyRouter(Router):
    """Seldon Core's epsilon-greedy: the best arm, except with probability ``epsilon`` another at random."""

    def __init__(self, epsilon: float = 0.1, best_arm: int = 0, seed: int | None = None) -> None:
        super().__init__(seed)
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon: expected a number in [0, 1], got {epsilon}")
        self.epsilon = epsilon
        self.best_arm = best_arm

    def setup(self, children: Sequence[str], input_schema: type[BaseModel]) -> None:
        if not 0 <= self.best_arm < len(children):
            raise ValueError(f"best_arm: {self.best_arm} is not a child index (0 to {len(children) - 1})")

    def choose(self, arms: Sequence[ArmStats], data: Any, request_id: str | None) -> int:
        leader = best(arms, self.best_arm)
        if self.random.random() >= self.epsilon:
            return leader
        others = [arm for arm in range(len(arms)) if arm != leader]
        return self.random.choice(others)


class ThompsonSamplingRouter(Router):
    """Thompson sampling: each arm's reward drawn from its posterior, the highest draw answers.

    ``bernoulli``: Beta(1 + total, 1 + n - total) per arm, rewards in [0, 1]. ``gaussian``: a normal
    posterior on the mean (a weak N(0, 100) prior, the arm's sample variance, 1 until two rewards).
    """

    def __init__(self, reward: str = "bernoulli", seed: int | None = None) -> None:
        super().__init__(seed)
        if reward not in ("bernoulli", "gaussian"):
            raise ValueError(f"reward: expected 'bernoulli' or 'gaussian', got '{reward}'")
        self.reward = reward

    def choose(self, arms: Sequence[ArmStats], data: Any, request_id: str | None) -> int:
        draws = [self._draw(arm) for arm in arms]
        return draws.index(max(draws))

    def _draw(self, arm: ArmStats) -> float:
        if self.reward == "bernoulli":
            return self.random.betavariate(1.0 + arm.total, 1.0 + max(0.0, arm.n - arm.total))
        variance = 1.0
        if arm.n >= 2:
            variance = max((arm.total_sq - arm.total * arm.total / arm.n) / (arm.n - 1), 1e-6)
        precision = 0.01 + arm.n / variance
        mean = (arm.total / variance) / precision
        return self.random.gauss(mean, 1.0 / math.sqrt(precision))

    def check_reward(self, reward: float) -> str | None:
        if self.reward == "bernoulli" and not 0.0 <= reward <= 1.0:
            return f"a Beta-Bernoulli router learns from rewards in [0, 1], got {reward}"
        return None


BUILTIN_ROUTERS: dict[str, type[Router]] = {
    "AB_TEST": FixedWeightRouter,
    "RANDOM_ABTEST": FixedWeightRouter,  # Seldon's name for the 50/50 split
    "EPSILON_GREEDY": EpsilonGreedyRouter,
    "THOMPSON_SAMPLING": ThompsonSamplingRouter,
}
