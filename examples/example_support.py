"""What both examples' training scripts share: a data profile, the code commit, packaging and signing."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any, ClassVar, Self

from modelward.artifacts import CodeRef, DatasetRef, Training, build_package, load_parameters, load_signer
from modelward.metrics.profile import build_profile
from modelward.model import MLModel


def profile(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The training data profile (inputs as the model's input documents): the training report that
    travels inside the package, and what ``modelward drift`` compares logged inputs with."""
    return build_profile(rows)


def git_commit() -> str:
    """The commit of the code that trained the model, when run from a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                                cwd=Path(__file__).parent, timeout=10)
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def package(folder: Path, output: Path, key: Path | None, *, qualified_name: str, version: str,
            datasets: tuple[DatasetRef, ...]) -> None:
    """Package (and sign, with ``key``) every artifact of ``folder``: model, metrics, profile, known cases."""
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    training = Training(datasets=datasets, code=CodeRef(repository="modelward/examples", commit=git_commit()),
                        metrics=metrics, owner="modelward-examples", reports=("data_profile.json",))
    build_package(folder, output, qualified_name=qualified_name, version=version, training=training,
                  signer=load_signer(key) if key else None)
    print(f"packaged {output} ({'signed' if key else 'UNSIGNED'})")


def save_model(pipeline: Any, output: Path, file_format: str) -> Path:
    """Write the fitted pipeline as ``model.skops`` (the default: loading it runs no pickle) or ``model.joblib``."""
    if file_format == "joblib":
        import joblib

        joblib.dump(pipeline, output / "model.joblib")
        return output / "model.joblib"
    import skops.io

    skops.io.dump(pipeline, output / "model.skops")
    return output / "model.skops"


def arguments(description: str | None, default_output: Path, challenger: bool = False) -> argparse.Namespace:
    """The training scripts' command line: --output, --format, --package, --key (and --challenger)."""
    parser = argparse.ArgumentParser(description=description)
    if challenger:
        parser.add_argument("--challenger", action="store_true",
                            help="train the challenger (other hyperparameters, the next version)")
    parser.add_argument("--output", type=Path, default=default_output, help="where to write the artifacts")
    parser.add_argument("--format", choices=("skops", "joblib"), default="skops", dest="file_format",
                        help="how the pipeline is saved: skops (default, no pickle) or joblib (a pickle, loaded "
                             "through modelward's allow-list)")
    parser.add_argument("--package", type=Path, help="also build a package here (.zip file or new directory)")
    parser.add_argument("--key", type=Path, help="private key that signs the package (`modelward keys generate`)")
    return parser.parse_args()


class PipelineModel(MLModel):
    """An example model around a scikit-learn pipeline that comes from a signed package.

    ``package`` is a package URI (path, ``file://`` or ``s3://``), verified with ``keyring`` (default:
    ``$MODELWARD_KEYRING``) before anything in it is deserialized; its ``model.skops`` is loaded (or
    ``model.joblib`` when the package has no skops file). ``model_path`` reads a bare skops or joblib
    file, and only when ``MODELWARD_ALLOW_UNSIGNED`` is set (local development).
    """

    model_file: ClassVar[Path]

    def __init__(self, model_path: str | None = None, package: str | None = None,
                 keyring: str | None = None) -> None:
        self._pipeline: Any = load_parameters(qualified_name=self.qualified_name, package=package,
                                              keyring=keyring, unsigned_path=model_path or self.model_file)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> Self:
        """A model around a pipeline already in memory (the training script records its known cases)."""
        model = cls.__new__(cls)
        model._pipeline = pipeline
        return model
