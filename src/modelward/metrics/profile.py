"""A training data profile: per-feature statistics that travel in the signed package.

``build_profile(rows)`` takes the training inputs as mappings (the model's input fields) and returns
a JSON document::

    {"format": "modelward-profile/1", "rows": 1000, "features": {
        "age": {"kind": "numeric", "count": 1000, "missing": 0, "min": 18, "max": 64, "mean": 39.2,
                "std": 14.0, "quantiles": [101 values: percentiles 0..100]},
        "region": {"kind": "categorical", "count": 1000, "missing": 0, "counts": {"northeast": 251, ...}}}}

Numbers (not booleans) are numeric; strings, booleans (``"true"``/``"false"``) and enum values are
categorical. Pure Python: no numpy needed at serving time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

FORMAT = "modelward-profile/1"
QUANTILES = 101


def normalize(value: Any) -> float | str | None:
    """A value as the profile sees it: a float, a category string, or None (missing)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars
    if hasattr(value, "value") and not isinstance(value, int | float | str):
        value = value.value  # enums
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    return str(value)


def quantiles(sorted_values: list[float], points: int = QUANTILES) -> list[float]:
    """``points`` evenly spaced quantiles (linear interpolation) of sorted values."""
    last = len(sorted_values) - 1
    found = []
    for i in range(points):
        position = last * i / (points - 1)
        low = math.floor(position)
        high = min(low + 1, last)
        found.append(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low))
    return found


def feature_profile(values: list[Any]) -> dict[str, Any]:
    """The statistics of one feature's values."""
    normalized = [normalize(v) for v in values]
    present = [v for v in normalized if v is not None]
    base = {"count": len(present), "missing": len(normalized) - len(present)}
    if present and all(isinstance(v, float) for v in present):
        numbers = sorted(float(v) for v in present)
        mean = sum(numbers) / len(numbers)
        std = math.sqrt(sum((x - mean) ** 2 for x in numbers) / len(numbers))
        return {"kind": "numeric", **base, "min": numbers[0], "max": numbers[-1], "mean": round(mean, 6),
                "std": round(std, 6), "quantiles": [round(q, 6) for q in quantiles(numbers)]}
    counts = Counter(str(v) for v in present)
    return {"kind": "categorical", **base, "counts": dict(sorted(counts.items()))}


def build_profile(rows: Iterable[Mapping[str, Any]], features: list[str] | None = None) -> dict[str, Any]:
    """The profile of the training inputs ``rows`` (each a mapping of input field to value)."""
    table = list(rows)
    names = features if features is not None else sorted({k for row in table for k in row})
    return {"format": FORMAT, "rows": len(table),
            "features": {name: feature_profile([row.get(name) for row in table]) for name in names}}
