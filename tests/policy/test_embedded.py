"""The embedded engine: the article's policy (v0, verbatim) and its v1 twin, and failing closed."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import regorus

from modelward.errors import PolicyCompileError
from modelward.policy import EmbeddedEngine, read_bundle
from modelward.policy.decision import Decision
from modelward.policy.embedded import thread_interpreters
from tests.policy.helpers import ARTICLE_POLICIES, V1_POLICY, bundle_of, customer

DENIED = "Prediction cannot be made if customer is a smoker over the age of 60."


@pytest.fixture(params=["v0-verbatim", "v1"])
def engine(request: pytest.FixtureRequest) -> EmbeddedEngine:
    folder = ARTICLE_POLICIES if request.param == "v0-verbatim" else V1_POLICY
    return EmbeddedEngine(read_bundle([folder]))


def test_article_policy_denies_a_smoker_of_62_with_its_message(engine: EmbeddedEngine) -> None:
    decision = engine.evaluate("insurance_charges_model", customer(62, True))
    assert (decision.allow, decision.messages, decision.error) == (False, (DENIED,), None)
    assert decision.policy == "insurance_charges_model"
    assert decision.policy_digest == engine.bundle.digest


@pytest.mark.parametrize(("age", "smoker", "allowed"), [
    (45, True, True), (60, True, True), (61, True, False), (62, False, True), (18, False, True),
])
def test_article_policy_boundaries(engine: EmbeddedEngine, age: int, smoker: bool, allowed: bool) -> None:
    decision = engine.evaluate("data.insurance_charges_model", customer(age, smoker))
    assert decision.allow is allowed
    assert decision.messages == (() if allowed else (DENIED,))


def test_the_verbatim_file_is_v0_syntax_and_the_twin_is_v1() -> None:
    text = (ARTICLE_POLICIES / "insurance_charges_model.rego").read_text()
    assert "import future.keywords.if" in text and "} else := false {" in text
    with pytest.raises(PolicyCompileError, match=r"insurance_charges_model\.rego"):
        EmbeddedEngine(read_bundle([ARTICLE_POLICIES]), rego_version="v1")
    assert "import" not in (V1_POLICY / "insurance_charges_model.rego").read_text()


def test_decisions_are_frozen_and_unique(engine: EmbeddedEngine) -> None:
    first = engine.evaluate("insurance_charges_model", customer(30, False))
    second = engine.evaluate("insurance_charges_model", customer(30, False))
    assert first.decision_id != second.decision_id and first.duration > 0
    with pytest.raises(AttributeError):
        first.allow = False  # type: ignore[misc]


def failing(text: str, input: dict[str, Any] | None = None) -> Decision:
    decision = EmbeddedEngine(bundle_of(text)).evaluate("p", input or {"model_input": {}})
    assert decision.allow is False and decision.error is not None, decision
    return decision


@pytest.mark.parametrize(("rule", "problem"), [
    ('allow := "false"', "not a boolean"),
    ('allow := "true"', "not a boolean"),
    ("allow := 1", "not a boolean"),
    ("allow if input.nothing", "undefined"),
])
def test_allow_must_be_a_boolean_true(rule: str, problem: str) -> None:
    assert problem in (failing(f"package p\n{rule}\n").error or "")


def test_messages_must_be_strings() -> None:
    assert "messages" in (failing("package p\nallow := false\nmessages := [1, 2]\n").error or "")


def test_unknown_package_or_missing_allow_fails_closed() -> None:
    engine = EmbeddedEngine(bundle_of("package p\nmessages := []\n"))
    assert "no rule 'data.p.allow'" in (engine.evaluate("p", {}).error or "")
    assert engine.evaluate("other", {}).error is not None
    assert engine.missing_rule("p") is not None and engine.missing_rule("p", "messages") is None


def test_runtime_error_fails_closed_and_the_interpreter_is_rebuilt() -> None:
    engine = EmbeddedEngine(bundle_of("package p\nallow if { x := 1 / input.d; x > 0 }\n"))
    assert engine.evaluate("p", {"d": 1}).allow is True
    before = engine.interpreter(engine.bundle.digest)
    decision = engine.evaluate("p", {"d": 0})
    assert decision.allow is False and "divide by zero" in (decision.error or "")
    assert "Stack backtrace" not in (decision.error or "")
    assert engine.interpreter(engine.bundle.digest) is None
    assert engine.evaluate("p", {"d": 2}).allow is True
    assert engine.interpreter(engine.bundle.digest) not in (None, before)


def test_interpreter_panic_fails_closed_and_the_next_call_rebuilds() -> None:
    """A regorus engine used from a thread that did not create it panics (PyO3 'unsendable')."""
    engine = EmbeddedEngine(read_bundle([ARTICLE_POLICIES]))
    holder: dict[str, Any] = {}
    ready, done = threading.Event(), threading.Event()

    def make() -> None:  # creates the interpreter, and frees it in its own thread at the end
        foreign = holder["engine"] = regorus.Engine()
        ready.set()
        done.wait(10)
        holder.clear()
        del foreign

    maker = threading.Thread(target=make)
    maker.start()
    ready.wait(10)
    thread_interpreters()[(engine.token, engine.bundle.digest)] = holder["engine"]
    decision = engine.evaluate("insurance_charges_model", customer(30, False))
    assert decision.allow is False and "PanicException" in (decision.error or "")
    assert engine.interpreter(engine.bundle.digest) is None
    assert engine.evaluate("insurance_charges_model", customer(30, False)).allow is True
    done.set()
    maker.join()


def test_compile_error_names_the_file() -> None:
    with pytest.raises(PolicyCompileError, match=r"broken\.rego.*"):
        EmbeddedEngine(bundle_of("package p\nallow if {\n", name="broken.rego"))


def test_each_thread_gets_its_own_interpreter(engine: EmbeddedEngine) -> None:
    results: list[tuple[bool, bool]] = []
    lock = threading.Lock()

    def work(age: int) -> None:
        for _ in range(50):
            decision = engine.evaluate("insurance_charges_model", customer(age, True))
            with lock:
                results.append((age > 60, decision.allow))

    threads = [threading.Thread(target=work, args=(age,)) for age in (40, 61, 65, 59)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 200
    assert all(allow is not over for over, allow in results)


def test_booleans_reach_the_policy_as_booleans() -> None:
    engine = EmbeddedEngine(bundle_of('package p\nallow if { input.flag == true; not input.n == true }\n'))
    assert engine.evaluate("p", {"flag": True, "n": 1}).allow is True
    assert engine.evaluate("p", {"flag": 1, "n": 1}).error is not None  # undefined allow


def test_replace_swaps_the_bundle_and_a_bad_one_is_refused() -> None:
    engine = EmbeddedEngine(bundle_of("package p\nallow := true\n"))
    engine.replace(bundle_of("package p\nallow := false\n"))
    assert engine.evaluate("p", {}).allow is False
    with pytest.raises(PolicyCompileError):
        engine.replace(bundle_of("package p\nallow := \n"))
    assert engine.evaluate("p", {}).allow is False
