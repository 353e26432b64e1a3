"""The two bare baselines of the serving benchmark: one prediction endpoint each, nothing else.

Both serve the model named by ``$BENCH_MODEL`` (``noop`` or ``insurance``) from ``bench_models``,
at the same path as the real services, and do the least a correct JSON endpoint does:

- ``fastapi_app``: an ``async def`` FastAPI route whose body parameter is the model's pydantic input
  schema (FastAPI reads the body, parses it with ``json.loads`` and validates it with pydantic, 422
  on failure); it calls ``predict`` on the event loop and returns the output's ``model_dump_json()``.
- ``starlette_app``: a Starlette route that reads the body, parses it with ``json.loads``, validates
  it with ``InputSchema.model_validate`` (422 with pydantic's errors on failure), calls ``predict``
  on the event loop and returns the output's ``model_dump_json()``.

Neither checks the content type, the body size, duplicate keys or NaN, nor sets a request id.
"""

# no ``from __future__ import annotations``: FastAPI must see the schema class itself
import json
import os

import bench_models
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def _model() -> bench_models.MLModel:
    kind = os.environ.get("BENCH_MODEL", "noop")
    return bench_models.NoopModel() if kind == "noop" else bench_models.InsuranceModel()


def _make_starlette() -> Starlette:
    model = _model()
    schema: type[BaseModel] = model.input_schema

    async def predict(request: Request) -> Response:
        try:
            data = schema.model_validate(json.loads(await request.body()))
        except (ValueError, ValidationError) as exc:
            return Response(json.dumps({"detail": str(exc)}), status_code=422, media_type="application/json")
        return Response(model.predict(data).model_dump_json(), media_type="application/json")

    return Starlette(routes=[Route(f"/api/models/{model.qualified_name}/prediction", predict,
                                   methods=["POST"])])


def _make_fastapi() -> FastAPI:
    model = _model()
    schema = model.input_schema
    app = FastAPI()

    async def predict(data: schema) -> Response:  # type: ignore[valid-type]
        return Response(model.predict(data).model_dump_json(), media_type="application/json")

    app.post(f"/api/models/{model.qualified_name}/prediction")(predict)
    return app


def starlette_app() -> Starlette:
    """The bare Starlette endpoint (a uvicorn factory)."""
    return _make_starlette()


def fastapi_app() -> FastAPI:
    """The bare FastAPI endpoint (a uvicorn factory)."""
    return _make_fastapi()
