"""``modelward policy test`` and ``modelward policy eval``: Rego tests and quick checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from modelward.cli.common import console
from modelward.policy.testing import TestReport, TestResult, evaluate_query, read_input, run_tests

RULE = "-" * 80


def _line(result: TestResult) -> str:
    micros = result.duration * 1e6
    shown = f"{micros:.0f}µs" if micros < 1000 else f"{micros / 1000:.1f}ms"
    return f"{result.case.path}: {result.status} ({shown})"


def print_report(report: TestReport) -> None:
    """Per-test lines grouped by file, failure output, coverage, then the summary line."""
    out = console()
    current = None
    for result in report.results:
        if result.case.file != current:
            current = result.case.file
            out.print(f"{current}:", markup=False)
        out.print(_line(result), markup=False)
        if result.status != "PASS":
            for text in (*result.output, *([result.error] if result.error else [])):
                out.print("\n".join(f"    {line}" for line in text.splitlines()), markup=False)
    if report.coverage is not None:
        out.print(RULE)
        for item in report.coverage:
            missing = ", ".join(str(n) for n in item.not_covered) or "none"
            out.print(f"{item.file}: {item.percent:.2f}% covered (lines not covered: {missing})", markup=False)
        out.print(f"coverage: {report.coverage_percent():.2f}%")
    out.print(RULE)
    out.print(f"{report.passed} passed, {report.failed} failed")


def test(
    paths: Annotated[list[Path], typer.Argument(help="Policy files or folders (tests in *_test.rego).")],
    coverage: Annotated[bool, typer.Option("--coverage", help="Report line coverage of the policies.")] = False,
) -> None:
    """Run the test_* rules of *_test.rego files, as `opa test` does; exit 1 on any failure."""
    report = run_tests(paths, coverage=coverage)
    print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def eval_(
    query: Annotated[str, typer.Argument(help="Query, e.g. data.insurance_charges_model or a rule in it.")],
    data: Annotated[list[Path], typer.Option("-d", "--data", help="Policy files or folders (repeatable).")],
    input: Annotated[Path | None, typer.Option("-i", "--input", help="JSON file used as `input`.")] = None,
) -> None:
    """Evaluate a query on an input file and print {"result": value} ({} when undefined)."""
    document = read_input(input) if input is not None else None
    value = evaluate_query(data, query, document)
    answer = {} if value is None else {"result": value}
    console().print(json.dumps(answer, indent=2), markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``policy`` command group."""
    group = typer.Typer(name="policy", help="Write, test and evaluate Rego policies.", no_args_is_help=True)
    group.command("test")(test)
    group.command("eval")(eval_)
    app.add_typer(group)
