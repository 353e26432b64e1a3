"""Build the models (and their decorator chains) that a service config names."""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelward.errors import ConfigurationError, ModelLoadError, ModelwardError
from modelward.graph.build import build_graph
from modelward.graph.config import GraphConfig, NodeDecoratorConfig, SqliteStateConfig
from modelward.metrics.tracing import instrument
from modelward.model import batches, enable_ml_base_interop, is_model, missing_members, unwrap
from modelward.model.seldon import SeldonModelAdapter, looks_like_seldon
from modelward.services.config import ModelConfig, ServiceConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to serve: the outermost object of its decorator chain, and its config."""

    model: Any
    config: ModelConfig

    @property
    def qualified_name(self) -> str:
        return str(self.model.qualified_name)


def import_object(class_path: str, where: str) -> Any:
    """Import ``package.module.Name``; errors say which key and why."""
    module_path, _, name = class_path.rpartition(".")
    if not module_path or not name:
        raise ConfigurationError(f"{where}: '{class_path}' is not a dotted path like 'package.module.Class'")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise ConfigurationError(f"{where}: cannot import '{class_path}': {exc}") from None
    except Exception as exc:
        raise ConfigurationError(
            f"{where}: importing '{module_path}' raised {type(exc).__name__}: {exc}"
        ) from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise ConfigurationError(f"{where}: module '{module_path}' has no attribute '{name}'") from None


def _construct(cls: Any, kwargs: dict[str, Any] | None, where: str) -> Any:
    if not callable(cls):
        raise ConfigurationError(f"{where}: '{cls!r}' is not a class")
    try:
        return cls(**(kwargs or {}))
    except TypeError as exc:
        raise ConfigurationError(f"{where}.configuration: {getattr(cls, '__name__', cls)}: {exc}") from None
    except Exception as exc:
        name = getattr(cls, "__name__", str(cls))
        raise ModelLoadError(f"{where}: {name}.__init__ raised {type(exc).__name__}: {exc}") from exc


def build_model(config: ModelConfig, where: str, data_dir: Path | None = None) -> LoadedModel:
    """Import, construct and decorate one model (or graph); the first decorator listed is innermost."""
    enable_ml_base_interop()
    if config.graph is not None:
        model = _graph(config, where, data_dir)
    else:
        model = _component(config.class_path or "", config.configuration, where, config.kind,
                           config.qualified_name)
    own_name = str(model.qualified_name)
    if config.qualified_name is not None and config.qualified_name != own_name:
        raise ConfigurationError(
            f"{where}.qualified_name: '{config.qualified_name}' disagrees with the model's own "
            f"qualified_name '{own_name}'"
        )
    for index, decorator_config in enumerate(config.decorators or []):
        model = _decorate(model, decorator_config.class_path, decorator_config.configuration,
                          f"{where}.decorators[{index}]")
    if config.batching is not None and not batches(model):
        raise ConfigurationError(
            f"{where}.batching: {type(unwrap(model)).__name__} has no predict_batch(items) method, so it "
            "cannot take a batch; define one (see docs/serving.md, 'Adaptive batching') or remove batching")
    logger.info("loaded model %s version %s as %r", own_name, model.version, model)
    return LoadedModel(model=model, config=config)


def _component(class_path: str, configuration: dict[str, Any] | None, where: str, kind: str = "auto",
               qualified_name: str | None = None) -> Any:
    """An ``MLModel`` built from ``class_path`` (a Seldon Python component is adapted)."""
    cls = import_object(class_path, f"{where}.class_path")
    model = _construct(cls, configuration, where)
    missing = missing_members(model)
    if kind == "seldon" or (kind == "auto" and missing and looks_like_seldon(model)):
        return _adapt_seldon(model, class_path, qualified_name, where)
    if missing:
        raise ConfigurationError(
            f"{where}.class_path: '{class_path}' is not an MLModel (missing: {', '.join(missing)})")
    return model


class GraphNodeFactory:
    """Builds a graph's nodes with the same import, construction and decorator rules as served models."""

    def instance(self, class_path: str, configuration: dict[str, Any] | None, where: str) -> Any:
        return _construct(import_object(class_path, f"{where}.class_path"), configuration, where)

    def model(self, class_path: str, configuration: dict[str, Any] | None, where: str) -> Any:
        return _component(class_path, configuration, where)

    def decorate(self, model: Any, decorators: list[NodeDecoratorConfig], where: str) -> Any:
        for index, decorator in enumerate(decorators):
            model = _decorate(model, decorator.class_path, decorator.configuration, f"{where}.decorators[{index}]")
        return model


def _graph(config: ModelConfig, where: str, data_dir: Path | None) -> Any:
    if data_dir is None:
        from modelward.settings import Settings

        data_dir = Settings().data_dir
    if config.graph is None or config.name is None:
        raise ConfigurationError(f"{where}: a graph endpoint needs a name and a graph")
    graph = GraphConfig(name=config.name, version=config.version, root=config.graph,
                        state=config.state or SqliteStateConfig())
    return build_graph(graph, GraphNodeFactory(), data_dir, where)


def _adapt_seldon(component: Any, class_path: str, qualified_name: str | None, where: str) -> Any:
    if not looks_like_seldon(component):
        raise ConfigurationError(f"{where}.class_path: '{class_path}' is not a Seldon component "
                                 "(it has no predict(X, feature_names))")
    try:
        return SeldonModelAdapter(component, qualified_name=qualified_name)
    except Exception as exc:
        raise ModelLoadError(f"{where}: {type(component).__name__}.load/init_metadata raised "
                             f"{type(exc).__name__}: {exc}") from exc


def _decorate(model: Any, class_path: str, kwargs: dict[str, Any] | None, where: str) -> Any:
    cls = import_object(class_path, f"{where}.class_path")
    decorator = _construct(cls, kwargs, where)
    if not callable(getattr(decorator, "set_model", None)):
        raise ConfigurationError(f"{where}.class_path: '{class_path}' is not an MLModelDecorator")
    try:
        decorated = decorator.set_model(model)
    except Exception as exc:
        raise ModelLoadError(f"{where}: set_model raised {type(exc).__name__}: {exc}") from exc
    if not is_model(decorated):
        raise ConfigurationError(f"{where}: set_model() of '{class_path}' did not return a model")
    return decorated


def extend_python_path(folders: list[str]) -> None:
    """Put the config's ``python_path`` folders at the front of ``sys.path`` (once each)."""
    for folder in reversed(folders):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def build_models(config: ServiceConfig, source: str | None = None, *,
                 data_dir: Path | None = None) -> list[LoadedModel]:
    """Build every model of the config; errors are prefixed with ``source`` (the config file).

    ``data_dir`` holds embedded state (a graph's SQLite router state); default: the settings' one.
    """
    try:
        return _build_all(config, data_dir)
    except ModelwardError as exc:
        if source is None:
            raise
        raise type(exc)(f"{source}: {exc.message}", **exc.details) from exc.__cause__


def _build_all(config: ServiceConfig, data_dir: Path | None) -> list[LoadedModel]:
    extend_python_path(config.python_path)
    loaded: list[LoadedModel] = []
    seen: dict[str, int] = {}
    for index, model_config in enumerate(config.models):
        item = build_model(model_config, f"models[{index}]", data_dir)
        if item.qualified_name in seen:
            raise ConfigurationError(
                f"models[{index}]: qualified_name '{item.qualified_name}' is already used by "
                f"models[{seen[item.qualified_name]}]"
            )
        seen[item.qualified_name] = index
        if config.tracing:
            instrument(item.model)
        loaded.append(item)
    return loaded
