"""The Grafana dashboard of a service config (``modelward dashboard``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelward.errors import ConfigurationError
from modelward.metrics.dashboard import render_dashboard
from modelward.services.config import ServiceConfig, load_config
from modelward.services.loader import extend_python_path, import_object


def model_names(config: ServiceConfig) -> list[str]:
    """The served models' qualified names: from the config, else the class's ``qualified_name`` attribute.

    Models are not constructed (no package is loaded or verified).
    """
    extend_python_path(config.python_path)
    names = []
    for index, model in enumerate(config.models):
        name = model.qualified_name or model.name
        if name is None and model.class_path is not None:
            name = getattr(import_object(model.class_path, f"models[{index}].class_path"), "qualified_name", None)
        if not isinstance(name, str):
            raise ConfigurationError(f"models[{index}]: give qualified_name (the class '{model.class_path}' only "
                                     "knows it once constructed)")
        names.append(name)
    return names


def dashboard_for(path: Path, title: str | None = None) -> dict[str, Any]:
    """The dashboard of the service config at ``path``: one row per model."""
    config = load_config(path)
    return render_dashboard(model_names(config), title or config.service_title)
