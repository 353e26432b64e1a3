"""The outlier step: a detector fitted at training time scores every input; outliers are tagged or refused.

```yaml
decorators:                       # or a graph node of type OUTLIER_DETECTOR
  - class_path: modelward.services.outlier.SignedOutlierDetector
    configuration:
      package: "${MODEL_PACKAGE}"          # the model's signed package, verified before the file is read
      keyring: "${MODELWARD_KEYRING}"
      detector: outlier_detector.json      # the member of the package (the default)
      mode: tag                            # tag (default) | refuse
      threshold: null                      # default: the one fitted on the training data
      denial_status: 422                   # refuse: the 4xx status of the refusal
```

The detector file (``modelward-outlier/1``) is JSON: numbers and names, never a pickle. It holds
the input features (numeric ones with their training mean and standard deviation, categorical
ones with their training levels, one-hot encoded), the location and the precision matrix of a
Mahalanobis distance, and the threshold. Scoring is plain Python (no numpy at serving time); the
score of an input is its Mahalanobis distance from the training data's centre.

``OutlierDetector`` (this module) reads a detector object, or a bare file only when
``MODELWARD_ALLOW_UNSIGNED`` is set; ``modelward.services.outlier.SignedOutlierDetector`` reads it
from a signed package (the graph layer does not import the artifacts layer). Each input's verdict
``{"score", "threshold", "is_outlier"}`` goes into the answer's metadata under ``outlier`` (a list,
in input order, when one request carried several inputs); ``modelward_outliers_total`` counts the
outliers per model and action, and the data plane records each score in ``modelward_outlier_score``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import Counter
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, create_model, model_validator

from modelward.errors import ConfigurationError
from modelward.model import MLModel, MLModelDecorator, PredictionNotAvailable, predict_many
from modelward.model.context import as_request, response_metadata
from modelward.model.decorator import parse_options
from modelward.settings import load_settings

logger = logging.getLogger(__name__)

DETECTOR_FORMAT = "modelward-outlier/1"
#: the member of a package that holds the detector, unless configured otherwise
DETECTOR_NAME = "outlier_detector.json"
#: the key of the answer's metadata that carries the verdicts
META_KEY = "outlier"
DETECTOR_LIMIT = 16 * 1024 * 1024


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NumericFeature(_Frozen):
    """A numeric input, standardized with its training mean and standard deviation."""

    name: str = Field(min_length=1)
    kind: Literal["numeric"] = "numeric"
    mean: float
    std: float = Field(gt=0)


class CategoricalFeature(_Frozen):
    """A categorical input (enum, string, boolean), one-hot encoded over its training levels."""

    name: str = Field(min_length=1)
    kind: Literal["categorical"] = "categorical"
    levels: tuple[str, ...] = Field(min_length=1)


Feature = NumericFeature | CategoricalFeature


class FittedFor(_Frozen):
    """The model the detector was fitted for."""

    qualified_name: str = ""
    version: str = ""


class Detector(_Frozen):
    """A fitted Mahalanobis detector: everything needed to score an input, as plain numbers."""

    format: Literal["modelward-outlier/1"] = "modelward-outlier/1"
    method: Literal["mahalanobis"] = "mahalanobis"
    covariance: Literal["robust", "empirical"] = "robust"
    model: FittedFor = FittedFor()
    features: tuple[NumericFeature | CategoricalFeature, ...] = Field(min_length=1)
    location: tuple[float, ...]
    precision: tuple[tuple[float, ...], ...]
    threshold: float = Field(gt=0)
    contamination: float = Field(gt=0, lt=0.5)
    training_rows: int = Field(ge=1)
    training_quantiles: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shapes(self) -> Detector:
        width = sum(1 if isinstance(f, NumericFeature) else len(f.levels) for f in self.features)
        if len(self.location) != width:
            raise ValueError(f"location has {len(self.location)} values, the features encode to {width} columns")
        if len(self.precision) != width or any(len(row) != width for row in self.precision):
            raise ValueError(f"precision must be a {width}x{width} matrix")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if not all(math.isfinite(v) for v in (*self.location, *(x for row in self.precision for x in row))):
            raise ValueError("location and precision must be finite numbers")
        return self

    # --- scoring ---------------------------------------------------------------------------------

    def encode(self, data: Any) -> list[float]:
        """An input (a pydantic model or a dict) as the detector's columns; ``ValueError`` naming the field."""
        columns: list[float] = []
        for feature in self.features:
            value = _field(data, feature.name)
            if isinstance(feature, NumericFeature):
                columns.append((_number(value, feature.name) - feature.mean) / feature.std)
            else:
                level = level_of(value)
                columns.extend(1.0 if level == known else 0.0 for known in feature.levels)
        return columns

    def score(self, data: Any) -> float:
        """The Mahalanobis distance of one input from the training data's centre."""
        delta = [x - m for x, m in zip(self.encode(data), self.location, strict=True)]
        total = sum(d * sum(p * e for p, e in zip(row, delta, strict=True))
                    for d, row in zip(delta, self.precision, strict=True))
        return math.sqrt(max(total, 0.0))

    # --- the file ---------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The detector file's bytes (JSON, sorted keys)."""
        return (json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1, allow_nan=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Detector:
        """Parse a detector file; ``ConfigurationError`` naming ``where``, the field and the problem."""
        if len(data) > DETECTOR_LIMIT:
            raise ConfigurationError(f"{where}: the detector file is larger than {DETECTOR_LIMIT} bytes")
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            place = ".".join(str(part) for part in first["loc"]) or "(root)"
            raise ConfigurationError(f"{where}: not a {DETECTOR_FORMAT} detector: {place}: {first['msg']}") from None

    def write(self, path: Path) -> Path:
        """Write the detector file (``outlier_detector.json`` beside the model, by convention)."""
        path.write_bytes(self.to_bytes())
        return path


def level_of(value: Any) -> str:
    """The text of a categorical value as the detector records it (enum value, ``true``/``false``)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _field(data: Any, name: str) -> Any:
    if isinstance(data, dict):
        if name not in data:
            raise ValueError(f"input has no field '{name}'")
        return data[name]
    try:
        return getattr(data, name)
    except AttributeError:
        raise ValueError(f"input has no field '{name}'") from None


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"field '{name}' is not a number ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"field '{name}' is not a finite number")
    return number


# --- the decorator ---------------------------------------------------------------------------------


class OutlierConfig(_Frozen):
    """The decorator's ``configuration`` (``SignedOutlierDetector`` adds ``package`` and ``keyring``)."""

    detector: str = Field(default=DETECTOR_NAME, description="The detector file (a package member, or a path).")
    mode: Literal["tag", "refuse"] = Field(default="tag", description="tag: annotate only; refuse: withhold.")
    threshold: float | None = Field(default=None, gt=0, description="Overrides the fitted threshold.")
    denial_status: int = Field(default=422, ge=400, le=499, description="refuse: the HTTP status (a 4xx).")


@cache
def refusable(output: Any) -> Any:
    """A root model named like ``output`` that is ``output`` or ``PredictionNotAvailable``."""
    name = getattr(output, "__name__", "Output")
    root = RootModel[Union[output, PredictionNotAvailable]]  # noqa: UP007
    return create_model(name, __base__=root, __doc__=f"{name}, or PredictionNotAvailable for an outlier.")


class OutlierDetector(MLModelDecorator):
    """Scores each input with a fitted detector, tags the answer, and refuses outliers in mode ``refuse``.

    ``OutlierDetector(fitted=Detector(...))`` in code; from a service config, ``detector`` is the
    path of a bare detector file, read only when ``MODELWARD_ALLOW_UNSIGNED`` is set (use
    ``modelward.services.outlier.SignedOutlierDetector`` to read it from a signed package).
    """

    config_model: type[OutlierConfig] = OutlierConfig

    def __init__(self, *, fitted: Detector | None = None, **options: Any) -> None:
        config = parse_options(self.config_model, options, type(self).__name__)
        if fitted is not None and not isinstance(fitted, Detector):
            raise ConfigurationError(f"{type(self).__name__}: fitted: expected a Detector object, got "
                                     f"{type(fitted).__name__} (a config file names the file in `detector`)")
        super().__init__(**config.model_dump(mode="json"))
        self._config = config
        self._detector = fitted if fitted is not None else self.read_detector(config)
        self._threshold = config.threshold if config.threshold is not None else self._detector.threshold
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last_error: str | None = None

    def read_detector(self, config: Any) -> Detector:
        """A bare detector file, only in local development (``MODELWARD_ALLOW_UNSIGNED``)."""
        path = Path(config.detector)
        if not load_settings().allow_unsigned:
            raise ConfigurationError(
                f"{type(self).__name__}: refusing to read the unsigned detector file {path}: use "
                "modelward.services.outlier.SignedOutlierDetector with the signed `package`, or set "
                "MODELWARD_ALLOW_UNSIGNED=true for local development")
        logger.warning("reading an UNVERIFIED outlier detector from %s (MODELWARD_ALLOW_UNSIGNED is set)", path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"{type(self).__name__}: cannot read {path}: {exc.strerror or exc}") from None
        return Detector.from_bytes(data, str(path))

    @property
    def detector(self) -> Detector:
        """The fitted detector in use."""
        return self._detector

    @property
    def threshold(self) -> float:
        """The threshold in use (configured, else fitted)."""
        return self._threshold

    def set_model(self, model: MLModel) -> MLModelDecorator:
        """Attach the model; its input schema must have every feature the detector was fitted on."""
        super().set_model(model)
        fitted = self._detector.model.qualified_name
        if fitted and fitted != model.qualified_name:
            raise ConfigurationError(f"{type(self).__name__}: the detector was fitted for model '{fitted}', "
                                     f"not '{model.qualified_name}'")
        fields = getattr(model.input_schema, "model_fields", None)
        missing = [f.name for f in self._detector.features if fields is not None and f.name not in fields]
        if missing:
            raise ConfigurationError(f"{type(self).__name__}: the detector's feature(s) {', '.join(missing)} are not "
                                     f"in the input schema of model '{model.qualified_name}'")
        return self

    @property
    def output_schema(self) -> Any:
        """The model's output schema (or ``PredictionNotAvailable``, in mode ``refuse``)."""
        output = self.model.output_schema
        return refusable(output) if self._config.mode == "refuse" else output

    # --- predicting -----------------------------------------------------------------------------

    def verdict(self, data: Any) -> dict[str, Any]:
        """``{"score", "threshold", "is_outlier"}`` for one input, or ``{"error", ...}`` if it cannot be scored."""
        try:
            score = self._detector.score(data)
        except ValueError as exc:
            return {"error": str(exc), "threshold": round(self._threshold, 6), "is_outlier": None}
        return {"score": round(score, 6), "threshold": round(self._threshold, 6), "is_outlier": score > self._threshold}

    def refusal(self, verdict: dict[str, Any]) -> PredictionNotAvailable | None:
        """The answer to an input in mode ``refuse``: withheld when an outlier or not scorable."""
        if self._config.mode != "refuse" or verdict["is_outlier"] is False:
            return None
        name = self.model.qualified_name
        if verdict["is_outlier"] is None:
            message = f"the input to model '{name}' cannot be checked for outliers: {verdict['error']}"
        else:
            message = (f"the input to model '{name}' is an outlier: score {verdict['score']:.3f} is above the "
                       f"threshold {self._threshold:.3f}; no prediction is made for it")
        return PredictionNotAvailable(messages=[message]).with_status(self._config.denial_status)

    def predict(self, data: Any) -> Any:
        verdict = self.verdict(data)
        refused = self.refusal(verdict)
        prediction = refused if refused is not None else self.model.predict(data)
        self._record(verdict, refused is not None)  # after the model answered: a retried batch notes once
        return prediction

    def predict_batch(self, items: list[Any]) -> list[Any]:
        """Every input scored on its own; refused inputs never reach the model, their neighbours do."""
        verdicts = [self.verdict(item) for item in items]
        refusals = [self.refusal(v) for v in verdicts]
        outputs: list[Any] = list(refusals)
        passed = [i for i, refused in enumerate(refusals) if refused is None]
        predictions = predict_many(self.model, [items[i] for i in passed]) if passed else []
        for index, prediction in zip(passed, predictions, strict=True):
            outputs[index] = prediction
        for item, verdict, refused in zip(items, verdicts, refusals, strict=True):
            as_request(item, self._record, verdict, refused is not None)
        return outputs

    def _record(self, verdict: dict[str, Any], refused: bool) -> None:
        """Count the verdict and add it to the answer's metadata (a list when a request has several)."""
        with self._lock:
            if verdict["is_outlier"] is None:
                self._counts["error"] += 1
                self._last_error = verdict["error"]
            else:
                self._last_error = None
                if verdict["is_outlier"]:
                    self._counts["refused" if refused else "tagged"] += 1
        if verdict["is_outlier"] is None:
            logger.warning("model %s: an input could not be scored for outliers: %s", self.model.qualified_name,
                           verdict["error"])
        meta = response_metadata.get()
        if meta is None:
            return
        current = meta.get(META_KEY)
        if current is None:
            meta[META_KEY] = verdict
        elif isinstance(current, list):
            current.append(verdict)
        else:
            meta[META_KEY] = [current, verdict]

    # --- reporting ------------------------------------------------------------------------------

    def health_problems(self) -> list[str]:
        """The last input could not be scored (predictions go on in mode ``tag``; refused in ``refuse``)."""
        error = self._last_error
        return [f"outlier detector of {self.model.qualified_name}: the last input could not be scored: {error}"] \
            if error else []

    def metric_samples(self) -> list[tuple[str, str, dict[str, str], float]]:
        """``modelward_outliers_total{model_name, action}`` (tagged, refused) and unscorable inputs."""
        model = self.model.qualified_name
        with self._lock:
            counts = dict(self._counts)
        help_text = "Inputs scored above the outlier threshold, by model and action (tagged, refused)."
        return [("modelward_outliers", help_text, {"model_name": model, "action": action},
                 float(counts.get(action, 0))) for action in ("tagged", "refused")] + [
            ("modelward_outlier_errors", "Inputs the outlier detector could not score, by model.",
             {"model_name": model}, float(counts.get("error", 0)))]

    def close(self) -> None:
        """Nothing to release: the detector is numbers in memory."""
