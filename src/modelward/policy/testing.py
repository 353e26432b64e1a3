"""Run Rego unit tests as ``opa test`` runs them, and evaluate a query for quick checks.

Every ``*.rego`` file under the given paths is loaded (policies and tests); each rule named
``test_*`` in a ``*_test.rego`` file is a test. A test passes when it evaluates to ``true``, fails
when it is false or undefined, and errors when evaluation raises. ``print()`` output is gathered
per test; line coverage of the policy files is available as with ``opa test --coverage``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from modelward.errors import PolicyError
from modelward.policy.bundle import PolicyBundle, read_bundle
from modelward.policy.embedded import clean_error, compile_engine, package_path, ref_parts, rule_name

Status = Literal["PASS", "FAIL", "ERROR"]


@dataclass(frozen=True)
class TestCase:
    """One ``test_*`` rule: the file it is in and its full path (``data.pkg.test_x``)."""

    file: str
    path: str


@dataclass(frozen=True)
class TestResult:
    """What one test did."""

    case: TestCase
    status: Status
    duration: float
    output: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class FileCoverage:
    """Covered and not covered lines of one policy file."""

    file: str
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]

    @property
    def percent(self) -> float:
        """Share of the file's evaluable lines that ran, in percent."""
        total = len(self.covered) + len(self.not_covered)
        return 100.0 * len(self.covered) / total if total else 100.0


@dataclass(frozen=True)
class TestReport:
    """The results of a run, and coverage when it was asked for."""

    results: tuple[TestResult, ...]
    coverage: tuple[FileCoverage, ...] | None = None

    @property
    def passed(self) -> int:
        """Tests that passed."""
        return sum(1 for r in self.results if r.status == "PASS")

    @property
    def failed(self) -> int:
        """Tests that failed or errored."""
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        """True when every test passed."""
        return self.failed == 0

    def coverage_percent(self) -> float:
        """Line coverage over every policy file, in percent."""
        files = self.coverage or ()
        covered = sum(len(f.covered) for f in files)
        total = covered + sum(len(f.not_covered) for f in files)
        return 100.0 * covered / total if total else 100.0


def discover(bundle: PolicyBundle) -> list[TestCase]:
    """The ``test_*`` rules of the bundle's ``*_test.rego`` files, in file then source order."""
    engine = compile_engine(bundle)
    cases: list[TestCase] = []
    for module in json.loads(engine.get_ast_as_json()):
        file = module["source"]["file"]
        if not file.endswith("_test.rego"):
            continue
        package = "data." + ".".join(ref_parts(module["ast"]["package"]["refr"]))
        for rule in module["ast"].get("rules", []):
            name = rule_name(rule)
            case = TestCase(file, f"{package}.{name}")
            if name and name.startswith("test_") and case not in cases:
                cases.append(case)
    return cases


def run_tests(paths: Sequence[Path], *, coverage: bool = False) -> TestReport:
    """Load every Rego file under ``paths`` and run its tests; raise when none are found."""
    bundle = read_bundle(paths, tests=True)
    cases = discover(bundle)
    if not cases:
        shown = ", ".join(str(p) for p in paths)
        raise PolicyError(f"{shown}: no test_* rules found in *_test.rego files")
    engine = compile_engine(bundle)
    engine.set_gather_prints(True)
    engine.set_enable_coverage(coverage)
    results = tuple(run_one(engine, case) for case in cases)
    report = coverage_of(engine) if coverage else None
    return TestReport(results, report)


def run_one(engine: Any, case: TestCase) -> TestResult:
    """Evaluate one test rule."""
    started = time.perf_counter()
    try:
        value = engine.eval_rule(case.path)
    except Exception as exc:
        output = tuple(engine.take_prints())
        return TestResult(case, "ERROR", time.perf_counter() - started, output, clean_error(exc))
    status: Status = "PASS" if value is True else "FAIL"
    return TestResult(case, status, time.perf_counter() - started, tuple(engine.take_prints()))


def coverage_of(engine: Any) -> tuple[FileCoverage, ...]:
    """Coverage of the policy files (not the test files) from the engine's report."""
    report = json.loads(engine.get_coverage_report_as_json())
    return tuple(
        FileCoverage(item["path"], tuple(item["covered"]), tuple(item["not_covered"]))
        for item in report.get("files", [])
        if not item["path"].endswith("_test.rego")
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"'{name}' is not a JSON number")


def read_input(path: Path) -> Any:
    """A JSON input document from a file; errors name the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the input file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: the input is not valid JSON: {exc}") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise PolicyError(f"{path}: the input is not valid JSON: it is nested too deeply") from None
    except ValueError as exc:  # syntax, NaN/Infinity, integers longer than Python converts
        raise PolicyError(f"{path}: the input is not valid JSON: {str(exc).split(';', 1)[0]}") from None


def evaluate_query(paths: Sequence[Path], query: str, input: Any | None) -> Any:
    """The value of ``query`` (``data.pkg`` or ``data.pkg.rule``), or None when it is undefined."""
    engine = compile_engine(read_bundle(paths))
    if input is not None:
        try:
            engine.set_input_json(json.dumps(input, allow_nan=False))
        except (ValueError, RuntimeError) as exc:  # a number out of range, nesting the engine refuses
            where = re.sub(r" at line \d+ column \d+$", "", clean_error(exc))  # of our re-encoding, not the file
            raise PolicyError(f"the input cannot be evaluated: {where}") from None
    try:
        answer = json.loads(engine.eval_query_as_json(package_path(query)))
    except Exception as exc:
        raise PolicyError(f"query '{query}' failed: {clean_error(exc)}") from None
    rows = answer.get("result") or []
    return rows[0]["expressions"][0]["value"] if rows else None
