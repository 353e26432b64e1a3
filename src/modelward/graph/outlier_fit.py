"""Fit an outlier detector on a model's training inputs (training time only: needs numpy and scikit-learn).

    detector = fit_detector(rows, InsuranceChargesModelInput, contamination=0.01,
                            model=FittedFor(qualified_name="insurance_charges_model", version="0.1.0"))
    detector.write(output / "outlier_detector.json")     # packaged and signed with the model

Features come from the input schema's flat fields: ``int`` and ``float`` are numeric (standardized
with the training mean and standard deviation); ``bool``, enums and ``Literal`` are categorical
(one-hot over the levels seen in training: a level never seen encodes as all zeros, which the ridge
makes far from every training row). Plain ``str`` fields (free text) are used only when named in
``features``; lists and objects never. Rows are validated through the schema first, so training and
serving encode alike.

Covariance ``robust`` (the default): the numeric block's location and covariance come from scikit-
learn's ``MinCovDet`` (outliers in the training data do not inflate it), the one-hot block's from
the empirical covariance, with no cross terms between the blocks (MCD on 0/1 columns can pick a
subset where a column is constant). ``empirical``: ``EmpiricalCovariance`` over every column. Either
way ``ridge`` is added to the diagonal before inverting. The threshold is the ``1 - contamination``
quantile of the training rows' own distances.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from modelward.errors import ConfigurationError
from modelward.graph.outlier import CategoricalFeature, Detector, FittedFor, NumericFeature, level_of

Covariance = Literal["robust", "empirical"]
QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)


def feature_kind(annotation: Any, *, text: bool = False) -> Literal["numeric", "categorical"] | None:
    """How a field of this type is encoded, or ``None`` when it is not used.

    Plain ``str`` fields (free text: names, notes) are categorical only when ``text`` is true (the
    field was named in ``features``); lists, objects and other types are never used.
    """
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = {feature_kind(arg, text=text) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if origin is Literal or annotation is bool or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return "categorical"
    if annotation is str:
        return "categorical" if text else None
    if annotation in (int, float):
        return "numeric"
    return None


def schema_features(schema: type[BaseModel], names: Sequence[str] | None = None,
                    ) -> list[tuple[str, Literal["numeric", "categorical"]]]:
    """The fields the detector uses, in order, with their kind: ``names``, else every usable field."""
    fields = schema.model_fields
    unknown = [n for n in names or () if n not in fields]
    if unknown:
        raise ConfigurationError(f"{schema.__name__}: no field(s) {', '.join(unknown)} to fit an outlier detector on")
    found = []
    for name in names or list(fields):
        kind = feature_kind(fields[name].annotation, text=names is not None)
        if kind is not None:
            found.append((name, kind))
        elif names is not None:
            raise ConfigurationError(f"{schema.__name__}.{name}: an outlier detector takes numbers, booleans, enums "
                                     f"and strings, not {fields[name].annotation}")
    if not found:
        raise ConfigurationError(f"{schema.__name__}: no numeric or categorical field to fit an outlier detector on")
    return found


def fit_detector(rows: Iterable[Mapping[str, Any] | BaseModel], schema: type[BaseModel], *,
                 contamination: float = 0.01, covariance: Covariance = "robust", ridge: float = 1e-3,
                 model: FittedFor | None = None, features: Sequence[str] | None = None,
                 random_state: int = 0) -> Detector:
    """A Mahalanobis detector fitted on ``rows`` (the model's training inputs); see the module docstring.

    ``features``: the fields to use (default: every numeric, boolean, enum and ``Literal`` field).
    """
    if not 0 < contamination < 0.5:
        raise ConfigurationError(f"contamination must be between 0 and 0.5, got {contamination}")
    items = [_validated(row, schema, index) for index, row in enumerate(rows)]
    kinds = schema_features(schema, features)
    if len(items) < 2 * len(kinds) + 2:
        raise ConfigurationError(f"{len(items)} training rows are too few to fit an outlier detector "
                                 f"on {len(kinds)} features")
    described = [_describe(name, kind, items) for name, kind in kinds]
    draft = Detector(features=tuple(described), location=(0.0,) * _width(described),
                     precision=_identity(_width(described)), threshold=1.0, contamination=contamination,
                     training_rows=len(items))
    table = np.array([draft.encode(item) for item in items], dtype=float)
    numeric = [isinstance(f, NumericFeature) for f in described for _ in range(_columns(f))]
    location, matrix = _covariance(table, np.array(numeric), covariance, random_state)
    precision = np.linalg.inv(matrix + ridge * np.eye(matrix.shape[0]))
    precision = (precision + precision.T) / 2
    delta = table - location
    scores = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", delta, precision, delta), 0.0))
    threshold = float(np.quantile(scores, 1 - contamination))
    return Detector(covariance=covariance, model=model or FittedFor(), features=tuple(described),
                    location=tuple(float(v) for v in location),
                    precision=tuple(tuple(float(v) for v in row) for row in precision),
                    threshold=threshold, contamination=contamination, training_rows=len(items),
                    training_quantiles={str(q): float(np.quantile(scores, q)) for q in QUANTILES})


def _validated(row: Mapping[str, Any] | BaseModel, schema: type[BaseModel], index: int) -> BaseModel:
    if isinstance(row, schema):
        return row
    try:
        return schema.model_validate(row.model_dump() if isinstance(row, BaseModel) else dict(row))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        place = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"training row {index}: {place}: {first['msg']}") from None


def _describe(name: str, kind: str, items: list[BaseModel]) -> NumericFeature | CategoricalFeature:
    values = [getattr(item, name) for item in items]
    if kind == "categorical":
        return CategoricalFeature(name=name, levels=tuple(sorted({level_of(v) for v in values})))
    numbers = np.array([float(v) for v in values if v is not None], dtype=float)
    if numbers.size == 0:
        raise ConfigurationError(f"training rows: field '{name}' has no values")
    std = float(numbers.std())
    return NumericFeature(name=name, mean=float(numbers.mean()), std=std if std > 0 else 1.0)


def _columns(feature: NumericFeature | CategoricalFeature) -> int:
    return 1 if isinstance(feature, NumericFeature) else len(feature.levels)


def _width(features: list[NumericFeature | CategoricalFeature]) -> int:
    return sum(_columns(f) for f in features)


def _identity(width: int) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(1.0 if i == j else 0.0 for j in range(width)) for i in range(width))


def _covariance(table: np.ndarray, numeric: np.ndarray, covariance: Covariance,
                random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Location and covariance matrix of the encoded training table."""
    from sklearn.covariance import EmpiricalCovariance, MinCovDet

    if covariance == "empirical" or not numeric.any():
        fitted = EmpiricalCovariance().fit(table)
        return fitted.location_, fitted.covariance_
    location = table.mean(axis=0)
    matrix = np.zeros((table.shape[1], table.shape[1]))
    robust = MinCovDet(random_state=random_state).fit(table[:, numeric])
    location[numeric] = robust.location_
    matrix[np.ix_(numeric, numeric)] = robust.covariance_
    if (~numeric).any():
        matrix[np.ix_(~numeric, ~numeric)] = np.atleast_2d(np.cov(table[:, ~numeric], rowvar=False, bias=True))
    return location, matrix
