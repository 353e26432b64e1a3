"""``SignedOutlierDetector``: the outlier step with its detector read from the model's signed package.

```yaml
decorators:
  - class_path: modelward.services.outlier.SignedOutlierDetector
    configuration:
      package: "${MODEL_PACKAGE}"          # path, file:// or s3://; verified completely first
      keyring: "${MODELWARD_KEYRING}"      # default: MODELWARD_KEYRING
      detector: outlier_detector.json      # the package member (the default)
      mode: tag                            # or refuse (denial_status, a 4xx, default 422)
```

The package's signature, its manifest and every file's digest are checked before the detector
member is read (and its digest is checked again while it is read); a tampered, unsigned or
unknown-key package refuses to load with the artifact error naming the file. The scoring is
``modelward.graph.outlier.OutlierDetector``'s; this subclass lives in ``services`` because it combines
the graph layer with the artifacts layer.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field

from modelward.artifacts import Keyring, load_verified
from modelward.errors import ConfigurationError
from modelward.graph.outlier import Detector, OutlierConfig, OutlierDetector
from modelward.model import MLModel, MLModelDecorator
from modelward.settings import load_settings

logger = logging.getLogger(__name__)


class SignedOutlierConfig(OutlierConfig):
    """``OutlierConfig`` plus where the signed package is and which keys to trust."""

    package: str = Field(min_length=1, description="The signed package (path, file:// or s3://).")
    keyring: str | None = Field(default=None, description="Trusted keys (default: MODELWARD_KEYRING).")


class SignedOutlierDetector(OutlierDetector):
    """An ``OutlierDetector`` whose detector file is a member of a verified, signed package."""

    config_model = SignedOutlierConfig
    _config: SignedOutlierConfig

    def read_detector(self, config: Any) -> Detector:
        """Verify the package completely, then read and parse the detector member."""
        settings = load_settings()
        keyring = Keyring.load(config.keyring or settings.resolved_keyring())
        secret = settings.legacy_hmac_secret.get_secret_value() if settings.legacy_hmac_secret else None
        with load_verified(config.package, keyring, max_expansion_bytes=settings.max_expansion_bytes,
                           endpoint_url=settings.s3_endpoint_url, legacy_secret=secret,
                           allow_globals=settings.pickle_allowances()) as verified:
            data = verified.read_bytes(config.detector)
            self._package_model = verified.manifest.model.qualified_name
            logger.info("verified %s: outlier detector %s signed by %s", config.package, config.detector,
                        verified.key_id)
        return Detector.from_bytes(data, f"{config.package}!{config.detector}")

    def set_model(self, model: MLModel) -> MLModelDecorator:
        """Attach the model; the package must be that model's."""
        found = self.__dict__.get("_package_model")
        if found is not None and found != model.qualified_name:
            raise ConfigurationError(f"{type(self).__name__}: {self._config.package} holds model '{found}', "
                                     f"not '{model.qualified_name}'")
        return super().set_model(model)
