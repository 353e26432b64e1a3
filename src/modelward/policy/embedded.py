"""The embedded engine: Rego evaluated in process by regorus (Rust), one interpreter per thread.

regorus engines are bound to the thread that created them, so each thread compiles its own from
the active bundle (and again when the bundle changes, or after the interpreter failed). Input is
handed over as JSON text. Both Rego syntaxes load: a file is read as v1 when it parses as v1
(or says ``import rego.v1``), otherwise as v0 (``import future.keywords...``, ``else := x { }``).
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import regorus

from modelward.errors import PolicyCompileError
from modelward.policy.bundle import PolicyBundle, PolicyFile
from modelward.policy.decision import Decision, interpret

RegoVersion = Literal["auto", "v0", "v1"]
_FATAL = (KeyboardInterrupt, SystemExit)


def clean_error(exc: BaseException) -> str:
    """The interpreter's message without the Rust backtrace that ``RUST_BACKTRACE`` adds."""
    text = str(exc).split("Stack backtrace:", 1)[0].strip()
    return text or type(exc).__name__


@functools.lru_cache(maxsize=256)
def package_path(query: str) -> str:
    """``insurance_charges_model`` or ``data.insurance_charges_model`` → ``data.insurance_charges_model``."""
    query = query.strip().strip("/").replace("/", ".")
    return query if query == "data" or query.startswith("data.") else f"data.{query}"


def _add(engine: Any, item: PolicyFile, v0: bool) -> None:
    engine.set_rego_v0(v0)
    engine.add_policy(item.name, item.text)


def load_error(engine: Any, item: PolicyFile, version: RegoVersion = "auto") -> str | None:
    """Load one module (``auto``: v1 syntax, else v0); the reason it failed, naming the file, or None.

    Errors are returned, not raised: a traceback would keep the engine alive in its frames, and an
    engine freed later by the garbage collector on another thread is a PyO3 error.
    """
    first = _try_add(engine, item, version == "v0")
    if first is None or version != "auto" or "import rego.v1" in item.text:
        return None if first is None else f"{item.name}: {first}"
    second = _try_add(engine, item, True)
    engine.set_rego_v0(False)
    if second is None:
        return None
    return f"{item.name}: {second if 'import future.' in item.text else first}"


def _try_add(engine: Any, item: PolicyFile, v0: bool) -> str | None:
    try:
        _add(engine, item, v0)
    except Exception as exc:
        return clean_error(exc)
    return None


def compile_engine(bundle: PolicyBundle, version: RegoVersion = "auto") -> Any:
    """A regorus engine holding every module of ``bundle``; ``PolicyCompileError`` if one fails."""
    engine = regorus.Engine()
    for item in bundle.files:
        problem = load_error(engine, item, version)
        if problem is not None:
            del engine
            raise PolicyCompileError(problem)
    return engine


def rule_index(bundle: PolicyBundle, version: RegoVersion = "auto") -> dict[str, set[str]]:
    """``{"data.<package>": {rule names}}`` for every package of the bundle."""
    engine = compile_engine(bundle, version)
    index: dict[str, set[str]] = {}
    for module in json.loads(engine.get_ast_as_json()):
        ast = module["ast"]
        package = "data." + ".".join(ref_parts(ast["package"]["refr"]))
        names = index.setdefault(package, set())
        names.update(name for rule in ast.get("rules", []) if (name := rule_name(rule)))
    return index


def ref_parts(ref: dict[str, Any]) -> list[str]:
    """The dotted parts of a reference in regorus's AST (``a.b.c`` → ``["a", "b", "c"]``)."""
    if "Var" in ref:
        return [str(ref["Var"]["value"])]
    if "RefDot" in ref:
        inner = ref["RefDot"]
        return [*ref_parts(inner["refr"]), str(inner["field"][1])]
    return []


def rule_name(rule: dict[str, Any]) -> str | None:
    """The name of a rule in regorus's AST (first part of its head), if it has one."""
    head = rule.get("Spec", {}).get("head", {})
    for kind in head.values():
        parts = ref_parts(kind.get("refr", {})) if isinstance(kind, dict) else []
        if parts:
            return parts[0]
    return None


@dataclass(frozen=True)
class Compiled:
    """A bundle that compiled, with the rules of each of its packages."""

    bundle: PolicyBundle
    rules: dict[str, set[str]]


_THREAD = threading.local()
_PER_THREAD = 16  # interpreters a thread keeps (one per EmbeddedEngine and bundle); the oldest goes


def thread_interpreters() -> dict[tuple[int, str], Any]:
    """This thread's interpreters, keyed by (engine token, bundle digest).

    They live with the thread, not with the ``EmbeddedEngine``: an engine object may be garbage
    collected on any thread, but a regorus interpreter must be freed by the thread that made it.
    """
    engines: dict[tuple[int, str], Any] | None = getattr(_THREAD, "engines", None)
    if engines is None:
        engines = _THREAD.engines = {}
    return engines


class EmbeddedEngine:
    """Evaluates Rego in process; ``evaluate()`` never raises for a policy problem (it fails closed)."""

    name = "embedded"
    _tokens = itertools.count(1)

    def __init__(self, bundle: PolicyBundle, rego_version: RegoVersion = "auto") -> None:
        self.rego_version: RegoVersion = rego_version
        self._active = self._compile(bundle)
        self.token = next(EmbeddedEngine._tokens)

    @property
    def bundle(self) -> PolicyBundle:
        """The bundle being evaluated."""
        return self._active.bundle

    def _compile(self, bundle: PolicyBundle) -> Compiled:
        return Compiled(bundle, rule_index(bundle, self.rego_version))

    def replace(self, bundle: PolicyBundle) -> None:
        """Compile ``bundle`` and make it the active one; on ``PolicyCompileError`` the old one stays."""
        self._active = self._compile(bundle)

    def interpreter(self, digest: str) -> Any:
        """This thread's interpreter for the bundle ``digest``, if it has one."""
        return thread_interpreters().get((self.token, digest))

    def discard(self) -> None:
        """Forget this thread's interpreters of this engine (they are rebuilt when needed)."""
        engines = thread_interpreters()
        for key in [key for key in engines if key[0] == self.token]:
            del engines[key]

    def _engine(self, active: Compiled) -> Any:
        key = (self.token, active.bundle.digest)
        engines = thread_interpreters()
        engine = engines.get(key)
        if engine is None:
            self.discard()
            if len(engines) >= _PER_THREAD:
                del engines[next(iter(engines))]
            engine = engines[key] = compile_engine(active.bundle, self.rego_version)
        return engine

    def evaluate(self, query: str, input: Mapping[str, Any]) -> Decision:
        """Evaluate ``<query>.allow`` and ``<query>.messages`` on ``input``."""
        started = time.perf_counter()
        active = self._active
        path = package_path(query)
        policy, digest = path.removeprefix("data."), active.bundle.digest
        rules = active.rules.get(path)
        if rules is None or "allow" not in rules:
            return Decision.failed(policy, digest, f"no rule '{path}.allow' in the policy bundle")
        try:
            allow, messages = self._run(active, path, "messages" in rules, input)
        except BaseException as exc:
            if isinstance(exc, _FATAL):
                raise
            self.discard()  # rebuilt on the next call: the interpreter may be unusable
            error = f"{type(exc).__name__}: {clean_error(exc)}"
            return Decision.failed(policy, digest, error, time.perf_counter() - started)
        return interpret(allow, messages, policy, digest, time.perf_counter() - started)

    def _run(self, active: Compiled, path: str, messages: bool, input: Mapping[str, Any]) -> tuple[Any, Any]:
        engine = self._engine(active)
        engine.set_input_json(orjson.dumps(input).decode())
        allow = engine.eval_rule(f"{path}.allow")
        # messages explain a denial: an allowed prediction skips their evaluation (half the cost)
        return allow, engine.eval_rule(f"{path}.messages") if messages and allow is not True else None

    def missing_rule(self, query: str, rule: str = "allow") -> str | None:
        """Why ``<query>.<rule>`` cannot be evaluated with the active bundle, or None when it can."""
        path = package_path(query)
        if rule in self._active.rules.get(path, set()):
            return None
        return f"the policy bundle has no rule '{path}.{rule}'"

    def health_problems(self) -> list[str]:
        """The embedded engine has no remote part to fail."""
        return []

    def close(self) -> None:
        """Nothing to release (thread-local interpreters go with their threads)."""
