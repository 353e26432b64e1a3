"""The one small interface every policy engine has, and the static engine shipped as a test seam."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from modelward.policy.decision import Decision


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates a Rego package (``query``) on an input document.

    ``evaluate`` returns a Decision and does not raise for policy problems: a failure is a Decision
    whose ``error`` is set, which never allows.
    """

    name: str

    def evaluate(self, query: str, input: Mapping[str, Any]) -> Decision:
        """The decision of package ``query`` for ``input``."""
        ...

    def health_problems(self) -> list[str]:
        """What is wrong with the engine right now (empty when nothing is)."""
        ...

    def close(self) -> None:
        """Release what the engine holds."""
        ...


@dataclass
class StaticEngine:
    """Answers the same decision every time and remembers the inputs (for tests and demos)."""

    allow: bool = True
    messages: tuple[str, ...] = ()
    name: str = "static"
    inputs: list[Mapping[str, Any]] = field(default_factory=list)

    def evaluate(self, query: str, input: Mapping[str, Any]) -> Decision:
        """The configured decision."""
        self.inputs.append(input)
        return Decision(self.allow, self.messages, query, None)

    def health_problems(self) -> list[str]:
        """Nothing can go wrong."""
        return []

    def close(self) -> None:
        """Nothing to release."""
