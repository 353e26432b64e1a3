"""``EnrichmentDecorator``: fields added to the input from a lookup before the model sees it.

```yaml
decorators:
  - class_path: modelward.services.enrichment.EnrichmentDecorator
    configuration:
      key: customer_id                 # the request names a customer...
      fields: [age, sex, bmi]          # ...and these come from the lookup, not from the request
      lookup: {type: redis, url: "redis://127.0.0.1:6379/0", prefix: "customer:"}   # HGETALL prefix+key
      # lookup: {type: sql, url: "postgresql+psycopg://...", table: customers, key_column: id}
```

The service's input schema becomes the model's, without ``fields`` and with ``key`` (so the API
contract and validation say what a client sends). A key the lookup does not hold is
``EnrichmentKeyMissing`` (422, naming the key); a lookup that cannot be reached is
``EnrichmentUnavailable`` (503); looked-up values that do not fit the model's schema are an
``EnrichmentError`` naming the field. The SQL lookup is ``modelward.catalog.lookup.SqlLookup`` (the
catalog layer owns SQLAlchemy), which is why this decorator lives in ``services``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from modelward.catalog.lookup import SqlLookup
from modelward.errors import ConfigurationError, EnrichmentError, EnrichmentKeyMissing, EnrichmentUnavailable
from modelward.model import MLModelDecorator
from modelward.model.decorator import parse_options, validation_problems


class RedisLookupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"]
    url: str = Field(default="redis://127.0.0.1:6379/0")
    prefix: str = Field(default="", description="The hash's key is prefix + the input's key value.")
    timeout: float = Field(default=0.5, gt=0)


class SqlLookupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db.")
    table: str
    key_column: str
    schema_name: str | None = Field(default=None, alias="schema")
    timeout: float = Field(default=5.0, gt=0)


class EnrichmentConfig(BaseModel):
    """The decorator's ``configuration``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="The input field whose value is looked up.")
    key_type: Literal["str", "int"] = Field(default="str")
    fields: list[str] = Field(min_length=1, description="Fields of the model's input taken from the lookup.")
    lookup: Annotated[RedisLookupConfig | SqlLookupConfig, Field(discriminator="type")]


class Lookup(Protocol):
    description: str

    def get(self, key: Any) -> dict[str, Any] | None: ...

    def close(self) -> None: ...


class RedisLookup:
    """``HGETALL prefix+key``; an empty hash is a missing key."""

    def __init__(self, config: RedisLookupConfig) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError("enrichment lookup redis needs the redis extra "
                                     "(pip install 'modelward[redis]')") from None
        self._client = redis.Redis.from_url(config.url, socket_timeout=config.timeout,
                                            socket_connect_timeout=config.timeout, decode_responses=True)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.prefix = config.prefix
        self.description = f"redis hash {config.prefix}<key>"

    def get(self, key: Any) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._client.hgetall(f"{self.prefix}{key}")  # type: ignore[assignment]
        except self._errors as exc:
            raise EnrichmentUnavailable(f"enrichment lookup {self.description} cannot be reached: {exc}") from None
        return found or None

    def close(self) -> None:
        self._client.close()


class EnrichmentDecorator(MLModelDecorator):
    """Adds looked-up fields to the input; see the module docstring."""

    def __init__(self, **options: Any) -> None:
        config = parse_options(EnrichmentConfig, options, "EnrichmentDecorator")
        super().__init__(**config.model_dump(mode="json", by_alias=True))
        self._options = config
        self._lookup: Lookup = self._make_lookup(config)

    def _make_lookup(self, config: EnrichmentConfig) -> Lookup:
        lookup = config.lookup
        if isinstance(lookup, RedisLookupConfig):
            return RedisLookup(lookup)
        return SqlLookup(lookup.url, lookup.table, lookup.key_column, config.fields, schema=lookup.schema_name,
                         timeout=lookup.timeout)

    @cached_property
    def _schema(self) -> type[BaseModel]:
        inner = self.model.input_schema
        missing = [f for f in self._options.fields if f not in inner.model_fields]
        if missing:
            raise ConfigurationError(f"EnrichmentDecorator: fields {missing} are not inputs of "
                                     f"{self.model.qualified_name} ({', '.join(inner.model_fields)})")
        kept: dict[str, Any] = {name: (info.annotation, info) for name, info in inner.model_fields.items()
                                if name not in self._options.fields}
        if self._options.key not in kept:
            kind = int if self._options.key_type == "int" else str
            kept[self._options.key] = (kind, Field(description="Looked up to enrich the input."))
        return create_model(f"{inner.__name__}Enriched", __doc__=inner.__doc__, **kept)

    @property
    def input_schema(self) -> type[BaseModel]:
        """The model's input without the looked-up fields, with the key."""
        return self._schema

    def set_model(self, model: Any) -> MLModelDecorator:
        decorated = super().set_model(model)
        _ = self._schema  # fail at load time when the fields are not the model's
        return decorated

    def enrich(self, data: Any) -> Any:
        """The model's input: the request's fields plus the looked-up ones."""
        document = data.model_dump() if isinstance(data, BaseModel) else dict(data)
        key = document[self._options.key]
        row = self._lookup.get(key)
        if row is None:
            raise EnrichmentKeyMissing(f"{self._options.key} '{key}' is not in the enrichment lookup "
                                       f"({self._lookup.description})")
        absent = [f for f in self._options.fields if f not in row]
        if absent:
            raise EnrichmentError(f"enrichment lookup {self._lookup.description} has no {absent} for "
                                  f"{self._options.key} '{key}'")
        merged = {**document, **{f: row[f] for f in self._options.fields}}
        inner = self.model.input_schema
        if self._options.key not in inner.model_fields:
            merged.pop(self._options.key)
        try:
            return inner.model_validate(merged)
        except ValidationError as exc:
            raise EnrichmentError(f"looked-up values for {self._options.key} '{key}' do not fit "
                                  f"{inner.__name__}: {validation_problems(exc)}") from None

    def predict(self, data: Any) -> Any:
        return self.model.predict(self.enrich(data))

    def close(self) -> None:
        self._lookup.close()
