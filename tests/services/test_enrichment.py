"""The enrichment decorator over a real Redis and a real PostgreSQL, and through a real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from modelward.errors import ConfigurationError, EnrichmentError, EnrichmentKeyMissing, EnrichmentUnavailable
from modelward.services.enrichment import EnrichmentDecorator
from tests.conftest import Server, free_port, wait_started, write_config
from tests.fixtures import EchoModel

pytestmark = pytest.mark.integration
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def customers() -> Iterator[str]:
    """A Redis prefix holding customer:7 = {label: gold} and customer:8 with a bad value."""
    prefix = f"modelward-test:{uuid.uuid4().hex}:customer:"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    client.hset(f"{prefix}7", mapping={"label": "gold", "unused": "x"})
    client.hset(f"{prefix}8", mapping={"label": "a label that is far too long for the schema"})
    yield prefix
    client.delete(f"{prefix}7", f"{prefix}8")
    client.close()


def redis_decorator(prefix: str, url: str = "redis://127.0.0.1:6379/0") -> EnrichmentDecorator:
    decorator = EnrichmentDecorator(key="customer_id", key_type="int", fields=["label"],
                                    lookup={"type": "redis", "url": url, "prefix": prefix})
    decorator.set_model(EchoModel())
    return decorator


def test_the_model_sees_the_looked_up_fields_and_the_schema_says_what_to_send(customers: str) -> None:
    model = redis_decorator(customers)
    schema = model.input_schema
    assert set(schema.model_fields) == {"value", "customer_id"}
    assert model.predict(schema.model_validate({"value": 2, "customer_id": 7})).label == "gold"
    with pytest.raises(EnrichmentKeyMissing, match="customer_id '9' is not in the enrichment lookup"):
        model.predict(schema.model_validate({"value": 2, "customer_id": 9}))
    with pytest.raises(EnrichmentError, match="do not fit EchoInput: label"):
        model.predict(schema.model_validate({"value": 2, "customer_id": 8}))
    model.close()


def test_an_unreachable_redis_is_unavailable_not_missing() -> None:
    model = redis_decorator("c:", url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(EnrichmentUnavailable, match="cannot be reached"):
        model.predict(model.input_schema.model_validate({"value": 1, "customer_id": 1}))


def test_fields_the_model_does_not_take_are_refused_at_load() -> None:
    with pytest.raises(ConfigurationError, match=r"fields \['tier'\] are not inputs of echo_model"):
        EnrichmentDecorator(key="id", fields=["tier"], lookup={"type": "redis"}).set_model(EchoModel())


@pytest.mark.postgres
def test_rows_of_a_postgresql_table() -> None:
    table = f"customers_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE {table} (id text PRIMARY KEY, label text)"))
        connection.execute(sa.text(f"INSERT INTO {table} VALUES ('c-1', 'silver')"))
    try:
        model = EnrichmentDecorator(key="customer_id", fields=["label"],
                                    lookup={"type": "sql", "url": PG, "table": table, "key_column": "id"})
        model.set_model(EchoModel())
        schema = model.input_schema
        assert model.predict(schema.model_validate({"value": 1, "customer_id": "c-1"})).label == "silver"
        with pytest.raises(EnrichmentKeyMissing, match="customer_id 'c-2'"):
            model.predict(schema.model_validate({"value": 1, "customer_id": "c-2"}))
        model.close()
        broken = EnrichmentDecorator(key="customer_id", fields=["label"],
                                     lookup={"type": "sql", "url": PG, "table": "no_such_table", "key_column": "id"})
        broken.set_model(EchoModel())
        with pytest.raises(EnrichmentError, match="no_such_table"):
            broken.predict(schema.model_validate({"value": 1, "customer_id": "c-1"}))
        broken.close()
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


CONFIG = """\
models:
  - class_path: tests.fixtures.EchoModel
    decorators:
      - class_path: modelward.services.enrichment.EnrichmentDecorator
        configuration:
          key: customer_id
          key_type: int
          fields: [label]
          lookup: {{type: redis, prefix: "{prefix}"}}
"""


def test_a_missing_key_is_a_422_from_a_real_server(serve: Callable[..., Server], tmp_path: Path,
                                                   customers: str) -> None:
    server = serve(write_config(tmp_path / "config.yaml", CONFIG.format(prefix=customers)))
    assert wait_started(server.url).status_code == 200
    url = server.url + "/api/models/echo_model/prediction"
    ok = httpx.post(url, json={"value": 1, "customer_id": 7})
    assert ok.status_code == 200 and ok.json()["label"] == "gold"
    missing = httpx.post(url, json={"value": 1, "customer_id": 70})
    assert missing.status_code == 422
    assert missing.json() == {"type": "EnrichmentKeyMissing", "messages": [
        f"customer_id '70' is not in the enrichment lookup (redis hash {customers}<key>)"]}
    assert httpx.post(url, json={"value": 1, "label": "x"}).status_code == 422  # the key is required
