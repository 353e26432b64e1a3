"""The known-case gate: run a model on its package's known cases before it ships.

A known case is one JSON line ``{"input": {...}, "output": {...}, "tolerance": {"absolute": x}}``
(or ``{"relative": r}``, a fraction of the expected value). Numbers must agree within the tolerance
(none: exactly); everything else must be equal. The first mismatch raises ``ValidationFailed``
naming the case, the field, both values and by how much they differ.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelward.errors import ValidationFailed


class Tolerance(BaseModel):
    """How far a number may be from the expected one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    absolute: float | None = Field(default=None, ge=0)
    relative: float | None = Field(default=None, ge=0)

    def allows(self, expected: float, actual: float) -> bool:
        """Whether ``actual`` is close enough to ``expected``."""
        difference = abs(actual - expected)
        if self.absolute is not None and difference <= self.absolute:
            return True
        if self.relative is not None and difference <= self.relative * abs(expected):
            return True
        return difference == 0

    def describe(self) -> str:
        parts = [f"absolute {self.absolute}" if self.absolute is not None else "",
                 f"relative {self.relative}" if self.relative is not None else ""]
        return " or ".join(p for p in parts if p) or "exact"


class KnownCase(BaseModel):
    """One known case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: dict[str, Any]
    output: Any
    tolerance: Tolerance = Field(default_factory=Tolerance)

    @model_validator(mode="after")
    def _has_output(self) -> KnownCase:
        if self.output is None:
            raise ValueError("output is missing")
        return self


@dataclass(frozen=True)
class CaseReport:
    """What the gate checked."""

    cases: int


def parse_cases(lines: Iterable[Mapping[str, Any] | str], where: str) -> list[KnownCase]:
    """Known cases from JSON lines (strings) or already parsed dicts; errors name the line."""
    cases: list[KnownCase] = []
    for number, line in enumerate(lines, start=1):
        if isinstance(line, str) and not line.strip():
            continue
        try:
            document = json.loads(line) if isinstance(line, str) else line
            cases.append(KnownCase.model_validate(document))
        except (ValueError, ValidationError) as exc:
            raise ValidationFailed(f"{where} line {number}: not a known case: {_short(exc)}") from None
    return cases


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<line>'}: {e['msg']}"
                         for e in exc.errors(include_url=False))
    return str(exc)


def mismatch(expected: Any, actual: Any, tolerance: Tolerance, path: str = "") -> str | None:
    """Why ``actual`` does not match ``expected`` (``None`` when it does)."""
    where = path or "output"
    if _is_number(expected) and _is_number(actual):
        if not math.isfinite(float(actual)) or not tolerance.allows(float(expected), float(actual)):
            off = abs(float(actual) - float(expected))
            return (f"{where}: expected {expected}, got {actual} (off by {off:.6g}; "
                    f"tolerance {tolerance.describe()})")
        return None
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for key, value in expected.items():
            if key not in actual:
                return f"{where}.{key}: missing from the model's answer"
            found = mismatch(value, actual[key], tolerance, f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found = mismatch(want, got, tolerance, f"{where}[{index}]")
            if found:
                return found
        return None
    return None if expected == actual else f"{where}: expected {expected!r}, got {actual!r}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def answer_of(model: Any, case: KnownCase) -> Any:
    """The model's answer to a case, as plain JSON data."""
    data = model.input_schema.model_validate(case.input)
    result = model.predict(data)
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else result


def run_cases(model: Any, cases: list[KnownCase], where: str) -> CaseReport:
    """Run every case; the first mismatch (or a model error) raises ``ValidationFailed``."""
    for number, case in enumerate(cases, start=1):
        try:
            actual = answer_of(model, case)
        except ValidationError as exc:
            raise ValidationFailed(f"{where} case {number}: input does not match the model's schema: "
                                   f"{_short(exc)}") from None
        except Exception as exc:
            raise ValidationFailed(f"{where} case {number}: the model raised {type(exc).__name__}: {exc}") from None
        problem = mismatch(case.output, actual, case.tolerance)
        if problem:
            raise ValidationFailed(f"{where} case {number} does not match: {problem}",
                                   case=number, expected=case.output, actual=actual)
    return CaseReport(cases=len(cases))
