"""``modelward policy test`` and ``modelward policy eval``, through the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from modelward.cli.main import main
from tests.conftest import MODELWARD
from tests.policy.helpers import ARTICLE_POLICIES


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_example_tests_all_pass(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "policy", "test", str(ARTICLE_POLICIES))
    assert status == 0
    assert out.count(": PASS (") == 16 and out.rstrip().endswith("16 passed, 0 failed")
    assert "data.insurance_charges_model.test_customer_is_a_smoker_over_60: PASS" in out


def test_a_failing_and_an_erroring_test_exit_non_zero_with_their_output(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(ARTICLE_POLICIES / "insurance_charges_model.rego", tmp_path)
    (tmp_path / "broken_test.rego").write_text(
        "package insurance_charges_model\nimport rego.v1\n"
        "test_wrong_boundary if {\n  print(\"age is\", 60)\n"
        "  allow == false with input as {\"model_input\": {\"age\": 60, \"smoker\": true}}\n}\n"
        "test_error if { x := 1 / 0; x > 0 }\n"
        "test_fine if { allow with input as {} }\n")
    status, out, _ = run(capsys, "policy", "test", str(tmp_path))
    assert status == 1
    assert "data.insurance_charges_model.test_wrong_boundary: FAIL" in out
    assert "age is 60" in out and "divide by zero" in out
    assert "data.insurance_charges_model.test_error: ERROR" in out
    assert out.rstrip().endswith("1 passed, 2 failed")


def test_coverage_reports_lines_not_covered(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(ARTICLE_POLICIES / "insurance_charges_model.rego", tmp_path)
    (tmp_path / "one_test.rego").write_text(
        "package insurance_charges_model\nimport rego.v1\n"
        "test_allowed if { allow with input as {} }\n")
    status, out, _ = run(capsys, "policy", "test", "--coverage", str(tmp_path))
    assert status == 0
    assert "insurance_charges_model.rego: " in out and "37.50% covered (lines not covered: 8, 14, 17, 18, 19)" in out
    assert "coverage: 100.00%" not in out
    status, out, _ = run(capsys, "policy", "test", "--coverage", str(ARTICLE_POLICIES))
    assert "coverage: 100.00%" in out


def test_no_tests_and_compile_errors_are_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(ARTICLE_POLICIES / "insurance_charges_model.rego", tmp_path)
    status, _, err = run(capsys, "policy", "test", str(tmp_path))
    assert status == 1 and "no test_* rules found" in err
    (tmp_path / "bad_test.rego").write_text("package x\ntest_a if {\n")
    status, _, err = run(capsys, "policy", "test", str(tmp_path))
    assert status == 1 and "bad_test.rego" in err and "Traceback" not in err


def test_eval_prints_the_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text(json.dumps({"model_input": {"age": 62, "smoker": True}}))
    status, out, _ = run(capsys, "policy", "eval", "data.insurance_charges_model.allow",
                         "-d", str(ARTICLE_POLICIES), "-i", str(tmp_path / "in.json"))
    assert (status, json.loads(out)) == (0, {"result": False})
    status, out, _ = run(capsys, "policy", "eval", "data.nothing", "-d", str(ARTICLE_POLICIES))
    assert (status, json.loads(out)) == (0, {})


def test_eval_refuses_a_bad_input_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text("{not json")
    status, _, err = run(capsys, "policy", "eval", "data.insurance_charges_model", "-d", str(ARTICLE_POLICIES),
                         "-i", str(tmp_path / "in.json"))
    assert status == 1 and "in.json: the input is not valid JSON" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model_input": {"age": NaN}}', "the input is not valid JSON: 'NaN' is not a JSON number"),
        ('{"age": ' + "9" * 5000 + "}", "the input is not valid JSON: Exceeds the limit (4300 digits)"),
        ("[" * 100_000 + "]" * 100_000, "the input is not valid JSON: it is nested too deeply"),
        ('{"age": 1e400}', "the input cannot be evaluated: Out of range float values"),
        ('{"age": ' + "9" * 400 + "}", "the input cannot be evaluated: number out of range"),
        ("[" * 200 + "]" * 200, "the input cannot be evaluated: recursion limit exceeded"),
    ],
    ids=["nan", "long-integer", "deep", "float-overflow", "huge-integer", "deeper-than-the-engine"],
)
def test_eval_input_the_engine_cannot_take_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "in.json").write_text(text)
    done = subprocess.run([MODELWARD, "policy", "eval", "data.insurance_charges_model", "-d",
                           str(ARTICLE_POLICIES), "-i", str(tmp_path / "in.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and "backtrace" not in done.stderr
