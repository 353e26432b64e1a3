"""Train the diabetes progression model: ``python -m diabetes_progression.train [--output DIR]``.

Uses the raw (unscaled) version of scikit-learn's bundled ``load_diabetes`` data, so the service
takes measurements in clinical units. Writes ``model.skops`` (``--format joblib``: ``model.joblib``),
``metrics.json`` and
``validation.jsonl`` (known cases taken from the data set, with this model's answers).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from example_support import arguments, package, profile, save_model
from sklearn.datasets import load_diabetes
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from diabetes_progression.model import FEATURES, MODEL_FILE, DiabetesProgressionModel
from diabetes_progression.schemas import DiabetesProgressionInput
from modelward.artifacts import DatasetRef

CASE_ROWS = [0, 1, 2, 10, 100, 441]


def row_to_input(row: np.ndarray) -> dict[str, object]:
    """A raw data set row as the model's input document."""
    values: dict[str, object] = {name: round(float(v), 4) for name, v in zip(FEATURES, row, strict=True)}
    values["age"] = int(row[0])
    values["sex"] = "male" if row[1] == 2 else "female"
    return values


def train(output: Path, file_format: str = "skops") -> dict[str, float]:
    """Fit on the bundled data and write every artifact into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    features, target = load_diabetes(return_X_y=True, scaled=False)
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.2, random_state=42)
    pipeline = Pipeline([("scale", StandardScaler()), ("ridge", RidgeCV(alphas=np.logspace(-3, 3, 13)))])
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    metrics = {"r2": round(float(r2_score(y_test, predicted)), 4),
               "mae": round(float(mean_absolute_error(y_test, predicted)), 2)}
    save_model(pipeline, output, file_format)
    (output / "data_profile.json").write_text(json.dumps(profile([row_to_input(r) for r in features]), indent=2) + "\n",
                                              encoding="utf-8")
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    model = DiabetesProgressionModel.from_pipeline(pipeline)
    with (output / "validation.jsonl").open("w", encoding="utf-8") as handle:
        for index in CASE_ROWS:
            case = row_to_input(features[index])
            answer = model.predict(DiabetesProgressionInput.model_validate(case))
            line = {"input": case, "output": answer.model_dump(), "tolerance": {"absolute": 0.01}}
            handle.write(json.dumps(line) + "\n")
    return metrics


def main() -> None:
    args = arguments(__doc__, MODEL_FILE.parent)
    metrics = train(args.output, args.file_format)
    print(f"trained diabetes_progression_model into {args.output}: r2={metrics['r2']} mae={metrics['mae']}")
    if args.package:
        features, target = load_diabetes(return_X_y=True, scaled=False)
        digest = "sha256:" + hashlib.sha256(features.tobytes() + target.tobytes()).hexdigest()
        dataset = DatasetRef(name="diabetes (scikit-learn, raw)", uri="sklearn.datasets.load_diabetes",
                             digest=digest)
        package(args.output, args.package, args.key, qualified_name=DiabetesProgressionModel.qualified_name,
                version=DiabetesProgressionModel.version, datasets=(dataset,))


if __name__ == "__main__":
    main()
