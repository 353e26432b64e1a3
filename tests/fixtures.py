"""Toy models and decorators for the tests (written to modelward's interface and to ml_base's)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from modelward.graph import Combiner, Router
from modelward.model import MLModel, MLModelDecorator, annotate


class EchoInput(BaseModel):
    """Input of the echo model."""

    value: float = Field(ge=0, le=1000, description="A number.")
    label: str = Field(default="x", max_length=20)


class EchoOutput(BaseModel):
    """Output of the echo model."""

    doubled: float
    label: str


class EchoModel(MLModel):
    """Doubles its input; configurable through __init__ keyword arguments."""

    display_name = "Echo Model"
    qualified_name = "echo_model"
    description = "Doubles a number."
    input_schema = EchoInput
    output_schema = EchoOutput

    def __init__(self, version: str = "1.0.0", factor: float = 2.0) -> None:
        self._version = version
        self.factor = factor

    @property
    def version(self) -> str:  # type: ignore[override]
        return self._version

    def predict(self, data: Any) -> EchoOutput:
        return EchoOutput(doubled=data.value * self.factor, label=data.label)


class FailingInitModel(EchoModel):
    """A model whose constructor raises."""

    qualified_name = "failing_init_model"

    def __init__(self, reason: str = "parameters missing") -> None:
        raise RuntimeError(reason)


class RaisingModel(EchoModel):
    """A model whose predict raises."""

    qualified_name = "raising_model"

    def predict(self, data: Any) -> EchoOutput:
        raise ValueError("internal model failure at 10.0.0.7")


class SuffixDecorator(MLModelDecorator):
    """Appends its configured suffix to the label, so the order of a chain shows in the output."""

    def predict(self, data: Any) -> Any:
        output = self.model.predict(data)
        return output.model_copy(update={"label": output.label + self._configuration["suffix"]})


class Wrapped(BaseModel):
    """Output schema of WrappingDecorator."""

    result: EchoOutput
    wrapped_by: str


class WrappingDecorator(MLModelDecorator):
    """Changes the output schema, to show that the contract follows decorators."""

    @property
    def output_schema(self) -> Any:
        return Wrapped

    def predict(self, data: Any) -> Wrapped:
        return Wrapped(result=self.model.predict(data), wrapped_by=type(self).__name__)


class NotAModel:
    """Has no model interface."""

    def __init__(self) -> None:
        self.x = 1


class SlowInitModel(EchoModel):
    """A model that takes a while to load, to observe the startup probe."""

    qualified_name = "slow_model"

    def __init__(self, seconds: float = 1.0) -> None:
        import time

        time.sleep(seconds)
        super().__init__()


class ClosingDecorator(MLModelDecorator):
    """Writes a marker file when the service closes it at shutdown."""

    def close(self) -> None:
        from pathlib import Path

        Path(self._configuration["marker"]).write_text("closed", encoding="utf-8")


class SleepyModel(EchoModel):
    """A model whose predictions take a while (it waits), to watch the service stay responsive."""

    qualified_name = "sleepy_model"

    def predict(self, data: Any) -> EchoOutput:
        import time

        time.sleep(data.value / 1000)
        return super().predict(data)


class LearningDecorator(MLModelDecorator):
    """Keeps the rewards it is given (a stand-in for a router that learns from feedback)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.__dict__["rewards"] = []

    def receive_feedback(self, feedback: Any) -> None:
        self.__dict__["rewards"].append(feedback.reward)

    def predict(self, data: Any) -> Any:
        annotate("rewards_seen", len(self.__dict__["rewards"]))
        return self.model.predict(data)


class BatchEchoModel(EchoModel):
    """The echo model with ``predict_batch`` (adaptive batching).

    Each batch waits ``delay`` seconds (so that requests pile up) and its size is kept in ``sizes``
    (and appended to ``sizes_file`` when given). The label ``boom`` makes the model raise,
    ``bad-output`` makes it answer an output that does not match the output schema.
    """

    qualified_name = "batch_echo_model"

    def __init__(self, delay: float = 0.0, sizes_file: str | None = None, version: str = "1.0.0") -> None:
        super().__init__(version=version)
        self.delay = delay
        self.sizes: list[int] = []
        self.sizes_file = sizes_file

    def predict(self, data: Any) -> Any:
        if data.label == "boom":
            raise ValueError("the label 'boom' breaks the model")
        if data.label == "bad-output":
            return {"doubled": None, "label": data.label}
        return super().predict(data)

    def predict_batch(self, items: list[Any]) -> list[Any]:
        import time
        from pathlib import Path

        time.sleep(self.delay)
        self.sizes.append(len(items))
        if self.sizes_file:
            with Path(self.sizes_file).open("a", encoding="utf-8") as file:
                file.write(f"{len(items)}\n")
        return [self.predict(item) for item in items]


class PairInput(BaseModel):
    """Input of the pair model: the two features ('a', 'b') of Seldon's documentation examples."""

    a: float
    b: float = Field(ge=0)


class PairOutput(BaseModel):
    """Output of the pair model."""

    total: float
    product: float


class PairModel(MLModel):
    """Adds and multiplies two features (a pydantic-schema model for the protocol codecs)."""

    display_name = "Pair Model"
    qualified_name = "pair_model"
    description = "Adds and multiplies a and b."
    version = "0.3.0"
    input_schema = PairInput
    output_schema = PairOutput

    def predict(self, data: Any) -> PairOutput:
        return PairOutput(total=data.a + data.b, product=data.a * data.b)


class SeldonStyleModel:
    """A model written for Seldon Core's Python wrapper: no MLModel, no schema, numpy in and out."""

    def __init__(self, feedback_file: str = "") -> None:
        self.feedback_file = feedback_file
        self.loaded = False
        self.last_names: list[str] = []

    def load(self) -> None:
        self.loaded = True

    def predict(self, X: Any, feature_names: Any, **kwargs: Any) -> Any:  # noqa: N803 (Seldon's names)
        self.last_names = list(feature_names)
        if isinstance(X, dict):
            return {"keys": sorted(X)}
        if isinstance(X, str):
            return X.upper()
        return X * 2

    def tags(self) -> dict[str, Any]:
        return {"model": "seldon-style", "loaded": self.loaded, "names": self.last_names}

    def metrics(self) -> list[dict[str, Any]]:
        return [{"type": "COUNTER", "key": "seldon_style_predictions", "value": 1}]

    def send_feedback(self, features: Any, feature_names: Any, reward: float, truth: Any,
                      routing: Any = None) -> None:
        import json
        from pathlib import Path

        record = {"features": features.tolist(), "names": list(feature_names), "reward": reward,
                  "truth": None if truth is None else truth.tolist(), "routing": routing,
                  "features_type": type(features).__name__}
        with Path(self.feedback_file).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


class WeatherModel:
    """The source article's Seldon class (seeds/004), with a threshold in place of its keras model."""

    result: dict[str, Any] = {}

    def __init__(self) -> None:
        self.result = {}

    def predict(self, X: Any, feature_names: Any, **meta: Any) -> Any:  # noqa: N803 (the article's code)
        if len(X) > 0 and len(feature_names) > 0:
            idx = 0
            while idx < len(feature_names):
                if str(feature_names[idx]).lower() == "temperature":
                    temp = int(X[idx])
                    self.result["weather_state"] = "HUMID" if temp > 50 else "DRY"
                idx = idx + 1
        return X

    def tags(self) -> dict[str, Any]:
        return self.result


# --- inference graphs (tests/graph) ------------------------------------------------------------


class OffsetTransformer(MLModel):
    """A TRANSFORMER: adds ``offset`` to the value and its ``mark`` to the label (so order shows)."""

    display_name = "Offset Transformer"
    qualified_name = "offset_transformer"
    description = "Adds an offset to the value."
    version = "1.0.0"
    input_schema = EchoInput
    output_schema = EchoInput

    def __init__(self, offset: float = 1.0, mark: str = "t") -> None:
        self.offset = offset
        self.mark = mark

    def predict(self, data: Any) -> EchoInput:
        return EchoInput(value=data.value + self.offset, label=data.label + self.mark)


class LabelOutputTransformer(MLModel):
    """An OUTPUT_TRANSFORMER: appends its ``mark`` to the answer's label."""

    display_name = "Label Output Transformer"
    qualified_name = "label_output_transformer"
    description = "Marks the answer."
    version = "1.0.0"
    input_schema = EchoOutput
    output_schema = EchoOutput

    def __init__(self, mark: str = "o") -> None:
        self.mark = mark

    def predict(self, data: Any) -> dict[str, Any]:
        return {"doubled": data.doubled, "label": data.label + self.mark}  # a dict: validated by the node


class ThresholdDetector(MLModelDecorator):
    """A small outlier detector (decorator-like): scores ``value / threshold``, tags, or refuses above 1."""

    def predict(self, data: Any) -> Any:
        threshold = float(self._configuration.get("threshold", 100.0))
        score = data.value / threshold
        annotate("outlier", {"score": score, "outlier": score > 1})
        if score > 1 and self._configuration.get("refuse", False):
            from modelward.model import PredictionNotAvailable

            return PredictionNotAvailable(messages=[f"input is an outlier (score {score:.2f})"])
        return self.model.predict(data)


class FeedbackRecorder(EchoModel):
    """The echo model that appends every reward it receives to a file (feedback reaching a node)."""

    qualified_name = "feedback_recorder"

    def __init__(self, path: str, factor: float = 2.0) -> None:
        super().__init__(factor=factor)
        self.path = path

    def receive_feedback(self, feedback: Any) -> None:
        from pathlib import Path

        with Path(self.path).open("a", encoding="utf-8") as file:
            file.write(f"{self.factor} {feedback.reward}\n")


class LabelRouter(Router):
    """A custom router: the label names the child (``"1"`` → child 1), anything else child 0."""

    def choose(self, arms: Any, data: Any, request_id: str | None) -> int:
        return int(data.label) if data.label.isdigit() else 0


class MaxCombiner(Combiner):
    """A custom combiner: the answer with the largest ``doubled``."""

    def aggregate(self, outputs: list[Any]) -> Any:
        return max(outputs, key=lambda output: output.doubled)
