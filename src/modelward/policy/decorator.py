"""``PolicyDecorator``: every prediction's input and output checked by a Rego policy, failing closed.

```yaml
decorators:
  - class_path: modelward.policy.PolicyDecorator
    configuration:
      policies: [insurance_charges/policies]   # files or folders
      package: insurance_charges_model
      engine: embedded                         # or opa, with opa_url
      check: both                              # input | output | both
```

The policy sees exactly ``{"model_qualified_name", "model_version", "model_input", "model_output"}``
(no ``model_output`` when the input is checked before the model runs). A denial answers
``PredictionNotAvailable{messages}``; a policy that cannot be evaluated raises ``PolicyUnavailable``
(503). A prediction is returned only when ``allow`` is the boolean ``true``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, RootModel, create_model

from modelward.errors import PolicyCompileError, PolicyUnavailable
from modelward.model import MLModelDecorator, PredictionNotAvailable, as_request, predict_many
from modelward.model.context import current_request_id
from modelward.policy.bundle import PolicyBundle, read_bundle, resolve_path
from modelward.policy.config import PolicyConfig, parse_policy_config
from modelward.policy.decision import Decision, unavailable_message
from modelward.policy.embedded import EmbeddedEngine
from modelward.policy.engine import PolicyEngine
from modelward.policy.log import DecisionLog, DecisionRecord, masked, now
from modelward.policy.opa import OpaEngine
from modelward.policy.watch import BundleWatcher

logger = logging.getLogger(__name__)
_FATAL = (KeyboardInterrupt, SystemExit)


@cache
def union_schema(output: Any) -> Any:
    """A root model named like ``output`` that is ``output`` or ``PredictionNotAvailable`` (the article's)."""
    name = getattr(output, "__name__", "Output")
    root = RootModel[Union[output, PredictionNotAvailable]]  # noqa: UP007
    return create_model(name, __base__=root, __doc__=f"{name}, or PredictionNotAvailable when a policy denies.")


def as_document(value: Any) -> Any:
    """A JSON-ready view of a pydantic model (enums as their values); other values unchanged."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


class PolicyDecorator(MLModelDecorator):
    """Checks each prediction with a Rego policy; see the module docstring for the configuration."""

    def __init__(self, **options: Any) -> None:
        config = parse_policy_config(options)
        super().__init__(**config.model_dump(mode="json"))
        self._policy = config
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._problem: str | None = None
        roots = [resolve_path(p) for p in config.policies]
        bundle = read_bundle(roots) if roots else None
        self._engine = self._make_engine(config, bundle)
        self._digest = bundle.digest if bundle is not None else None
        self._log = self._make_log(config)
        self._watcher = None
        if bundle is not None:  # reload_interval 0: no thread, but reload_now() still looks
            self._watcher = BundleWatcher(roots, self.activate, self._refuse, config.reload_interval)

    @staticmethod
    def _make_engine(config: PolicyConfig, bundle: PolicyBundle | None) -> PolicyEngine:
        if config.engine == "opa":
            return OpaEngine(str(config.opa_url), timeout=config.timeout,
                             max_connections=config.max_connections,
                             digest=bundle.digest if bundle is not None else None)
        if bundle is None:  # the config refuses this; kept for type checkers
            raise PolicyCompileError("the embedded engine needs policy files")
        engine = EmbeddedEngine(bundle, config.rego_version)
        missing = engine.missing_rule(config.package)
        if missing:
            raise PolicyCompileError(f"{missing} (package '{config.package}')")
        return engine

    @staticmethod
    def _make_log(config: PolicyConfig) -> DecisionLog | None:
        log = config.decision_log
        if not log.enabled:
            return None
        return DecisionLog(log.resolved_path(config.package), max_bytes=log.max_bytes, backups=log.backups,
                           queue_size=log.queue_size)

    # --- the model interface -------------------------------------------------------------

    @property
    def output_schema(self) -> Any:
        """The model's output schema, or ``PredictionNotAvailable``."""
        return union_schema(self.model.output_schema)

    def predict(self, data: Any) -> Any:
        """Check the input, predict, check the output; withhold the prediction unless both allow."""
        model_input = as_document(data)
        if self._policy.checks_input:
            refusal = self._check(model_input, None, "input")
            if refusal is not None:
                return refusal
        prediction = self.model.predict(data)
        if isinstance(prediction, PredictionNotAvailable) or not self._policy.checks_output:
            return prediction
        refusal = self._check(model_input, as_document(prediction), "output")
        return prediction if refusal is None else refusal

    def predict_batch(self, items: list[Any]) -> list[Any]:
        """``predict`` for many inputs: each checked on its own, the allowed ones predicted together.

        Every check runs in the context of the request its input came from, so each decision-log
        line carries its own request's id; a denied input answers ``PredictionNotAvailable`` and
        never reaches the model, and its neighbours are not affected.
        """
        documents = [as_document(item) for item in items]
        outputs: list[Any] = [None] * len(items)
        allowed: list[int] = []
        for index, item in enumerate(items):
            refusal = (as_request(item, self._check, documents[index], None, "input")
                       if self._policy.checks_input else None)
            if refusal is None:
                allowed.append(index)
            else:
                outputs[index] = refusal
        predictions = predict_many(self.model, [items[i] for i in allowed]) if allowed else []
        for index, prediction in zip(allowed, predictions, strict=True):
            if self._policy.checks_output and not isinstance(prediction, PredictionNotAvailable):
                refusal = as_request(items[index], self._check, documents[index], as_document(prediction),
                                     "output")
                prediction = prediction if refusal is None else refusal
            outputs[index] = prediction
        return outputs

    # --- deciding --------------------------------------------------------------------------

    def policy_input(self, model_input: Any, model_output: Any | None) -> dict[str, Any]:
        """The document the policy sees."""
        document = {"model_qualified_name": self.model.qualified_name, "model_version": self.model.version,
                    "model_input": model_input}
        if model_output is not None:
            document["model_output"] = model_output
        return document

    def _check(self, model_input: Any, model_output: Any | None, stage: str) -> PredictionNotAvailable | None:
        document = self.policy_input(model_input, model_output)
        decision = self.decide(document)
        self._note(decision, document, stage)
        if decision.error is not None:
            logger.error("policy %s could not be evaluated (%s check of %s): %s", decision.policy, stage,
                         self.model.qualified_name, decision.error)
            raise PolicyUnavailable(unavailable_message(decision.policy), decision=decision)
        if decision.allow is True:
            return None
        return PredictionNotAvailable(messages=list(decision.messages)).with_status(self._policy.denial_status)

    def decide(self, document: dict[str, Any]) -> Decision:
        """The engine's decision on ``document``; any failure becomes an error decision."""
        try:
            return self._engine.evaluate(self._policy.package, document)
        except BaseException as exc:
            if isinstance(exc, _FATAL):
                raise
            return Decision.failed(self._policy.package, self._digest, f"{type(exc).__name__}: {exc}")

    def _note(self, decision: Decision, document: dict[str, Any], stage: str) -> None:
        with self._lock:
            self._counts[(stage, decision.outcome)] += 1
        if self._log is None:
            return
        options = self._policy.decision_log
        logged = masked(document, options.mask) if options.include_input else None
        self._log.record(DecisionRecord(decision, self.model.qualified_name, self.model.version, stage,
                                        current_request_id(), now(), logged))

    # --- reloading ----------------------------------------------------------------------------

    def activate(self, bundle: PolicyBundle) -> None:
        """Make ``bundle`` the active policy if it compiles; otherwise keep the last good one."""
        if bundle.digest == self._digest:
            self._problem = None
            return
        try:
            self._replace(bundle)
        except PolicyCompileError as exc:
            self._refuse(exc.message)
            return
        logger.info("policy %s reloaded: %s", self._policy.package, bundle.digest)
        self._digest, self._problem = bundle.digest, None
        self._count("reload", "ok")

    def _replace(self, bundle: PolicyBundle) -> None:
        engine = self._engine
        if isinstance(engine, EmbeddedEngine):
            candidate = EmbeddedEngine(bundle, engine.rego_version)
            missing = candidate.missing_rule(self._policy.package)
            if missing:
                raise PolicyCompileError(missing)
            engine.replace(bundle)
        elif isinstance(engine, OpaEngine):
            engine.digest = bundle.digest

    def _refuse(self, message: str) -> None:
        logger.error("policy bundle refused, the last good one keeps serving: %s", message)
        self._problem = f"policy bundle refused (still serving {self._digest}): {message}"
        self._count("reload", "refused")

    def _count(self, stage: str, outcome: str) -> None:
        with self._lock:
            self._counts[(stage, outcome)] += 1

    def reload_now(self) -> bool:
        """Look at the policy files now instead of waiting for the next interval."""
        return self._watcher.check() if self._watcher is not None else False

    # --- reporting -----------------------------------------------------------------------------

    @property
    def policy_digest(self) -> str | None:
        """The digest of the active bundle."""
        return self._digest

    def health_problems(self) -> list[str]:
        """A refused bundle, a decision log that cannot be written, and anything the engine reports."""
        found = [self._problem] if self._problem else []
        log = self._log
        if log is not None and log.error is not None:
            found.append(f"decision log {log.path} cannot be written ({log.failed} records lost): {log.error}")
        return found + self._engine.health_problems()

    def metric_samples(self) -> list[tuple[str, str, dict[str, str], float]]:
        """Counters as ``(name, help, labels, value)``, read by ``modelward.metrics``."""
        labels = {"model": self.model.qualified_name, "package": self._policy.package}
        with self._lock:
            counts = dict(self._counts)
        samples = [self._decision_sample(labels, key, value) for key, value in sorted(counts.items())]
        if self._log is not None:
            samples.append(("modelward_policy_decision_log_dropped", "Decision records dropped: the "
                            "log could not keep up.", labels, float(self._log.dropped)))
            samples.append(("modelward_policy_decision_log_written", "Decision records written.",
                            labels, float(self._log.written)))
        return samples

    @staticmethod
    def _decision_sample(labels: dict[str, str], key: tuple[str, str],
                         value: int) -> tuple[str, str, dict[str, str], float]:
        stage, outcome = key
        if stage == "reload":
            return ("modelward_policy_reloads", "Policy bundle reloads by result.",
                    {**labels, "result": outcome}, float(value))
        return ("modelward_policy_decisions", "Policy decisions by stage and result.",
                {**labels, "stage": stage, "result": outcome}, float(value))

    def close(self) -> None:
        """Stop watching the files, flush the decision log, close connections."""
        if self._watcher is not None:
            self._watcher.close()
        if self._log is not None:
            self._log.close()
        self._engine.close()


def bundle_from(paths: list[str | Path]) -> PolicyBundle:
    """Read a bundle from files or folders (resolved as the decorator resolves them)."""
    return read_bundle([resolve_path(p) for p in paths])
