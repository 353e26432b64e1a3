"""Decisions as values: what a policy said about one prediction, and how it was reached."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import PolicyDenied, PolicyUnavailable


class _Ids:
    """A random per-process prefix and a counter; a forked child draws a new prefix."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)


_IDS = _Ids()
os.register_at_fork(after_in_child=_IDS.reset)


def new_decision_id() -> str:
    """A fresh, unique decision id: a random per-process prefix and a counter (cheaper than uuid4)."""
    return f"{_IDS.prefix}-{next(_IDS.counter):x}"


@dataclass(frozen=True)
class Decision:
    """The outcome of evaluating one policy on one input.

    ``allow`` is True only when the policy's ``allow`` rule evaluated to the boolean ``true``.
    ``error`` is set when the policy could not be evaluated (engine error, timeout, undefined or
    non-boolean ``allow``...); such a decision never allows (fail closed).
    """

    allow: bool
    messages: tuple[str, ...]
    policy: str
    policy_digest: str | None
    decision_id: str = field(default_factory=new_decision_id)
    duration: float = 0.0
    error: str | None = None

    @classmethod
    def failed(cls, policy: str, digest: str | None, error: str, duration: float = 0.0) -> Decision:
        """A decision that records why the policy could not be evaluated; it denies."""
        return cls(False, (), policy, digest, duration=duration, error=error)

    @property
    def outcome(self) -> str:
        """``allow``, ``deny`` or ``error``."""
        if self.error is not None:
            return "error"
        return "allow" if self.allow else "deny"

    def ensure(self) -> None:
        """Raise ``PolicyUnavailable`` for an error, ``PolicyDenied`` for a denial; else return."""
        if self.error is not None:
            raise PolicyUnavailable(unavailable_message(self.policy), decision=self)
        if not self.allow:
            raise PolicyDenied("; ".join(self.messages) or f"denied by policy '{self.policy}'", decision=self)


def unavailable_message(policy: str) -> str:
    """What a client is told when a policy could not be evaluated (no hosts, no internals)."""
    return f"the policy '{policy}' could not be evaluated; the prediction is withheld"


def interpret(allow: Any, messages: Any, policy: str, digest: str | None, duration: float) -> Decision:
    """Turn raw ``allow`` and ``messages`` values into a Decision, failing closed on anything odd."""
    if allow is None:
        return Decision.failed(policy, digest, "'allow' is undefined", duration)
    if type(allow) is not bool:
        return Decision.failed(policy, digest, f"'allow' is not a boolean: {allow!r:.80}", duration)
    texts = message_texts(messages)
    if texts is None:
        return Decision.failed(policy, digest, f"'messages' is not a list of strings: {messages!r:.80}", duration)
    if not allow and not texts:
        texts = (f"denied by policy '{policy}'",)
    return Decision(allow, texts, policy, digest, duration=duration)


def message_texts(messages: Any) -> tuple[str, ...] | None:
    """``messages`` as a sorted tuple of strings; None when it is not a collection of strings."""
    if messages is None:
        return ()
    if isinstance(messages, str) or not isinstance(messages, Iterable) or isinstance(messages, dict):
        return None
    items = list(messages)
    if not all(isinstance(item, str) for item in items):
        return None
    return tuple(sorted(items))


def interpret_document(document: Any, policy: str, digest: str | None, duration: float) -> Decision:
    """A Decision from a package document such as OPA's ``result`` (``{"allow": ..., "messages": ...}``)."""
    if document is None:
        return Decision.failed(policy, digest, "the policy returned no result (package undefined?)", duration)
    if not isinstance(document, dict):
        return Decision.failed(policy, digest, f"the result is not an object: {document!r:.80}", duration)
    return interpret(document.get("allow"), document.get("messages"), policy, digest, duration)
