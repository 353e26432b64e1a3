"""MLflow's scoring protocol (``mlflow models serve``), a thin codec over ``DataPlane``.

- ``POST /invocations`` with ``application/json``: exactly one of ``dataframe_split``
  (``{"columns", "data"}``), ``dataframe_records`` (a list of objects), ``instances`` or ``inputs``
  (a list of rows, or an object of columns), plus optional ``params``; or ``text/csv`` whose header
  row names the fields. Answers ``{"predictions": [...]}``. Rows without column names are read in
  the order of the input schema's fields; an empty CSV cell leaves its field out.
- ``GET /ping`` (and ``/health``): 200 once the models are loaded, 503 before; ``GET /version``: modelward's.

The model is the service's ``default_model`` (else the first with ``create_endpoint``). Errors are
MLflow's ``{"error_code", "message"}``; a policy denial is a 4xx (``PERMISSION_DENIED``) carrying
the policy's messages.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelward import __version__
from modelward.errors import ModelwardError, RequestError
from modelward.services.dataplane import DataPlane, ModelEndpoint, json_type
from modelward.services.jsonbody import loads_strict
from modelward.serving import health
from modelward.serving.codecs import denial, infer_request, media_type, predictions, read_body, served_model
from modelward.serving.errors import JSON, status_for
from modelward.serving.predict import new_request_id

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
ACCEPT = ("application/json", "text/csv")
ERROR_CODES = {400: "BAD_REQUEST", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST", 413: "BAD_REQUEST",
               415: "BAD_REQUEST", 422: "INVALID_PARAMETER_VALUE", 503: "TEMPORARILY_UNAVAILABLE"}


def error(status: int, message: str) -> Response:
    body = {"error_code": ERROR_CODES.get(status, "INTERNAL_ERROR"), "message": message}
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def columns_to_rows(columns: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """``{"a": [1, 2], "b": [3, 4]}`` as ``[{"a": 1, "b": 3}, {"a": 2, "b": 4}]``."""
    lengths = {name: len(values) for name, values in columns.items() if isinstance(values, list)}
    if len(lengths) != len(columns):
        bad = next(name for name in columns if name not in lengths)
        raise RequestError(f"{where}.{bad}: expected a list of values (one per row)")
    if len(set(lengths.values())) > 1:
        raise RequestError(f"{where}: columns have different lengths ({lengths})")
    count = next(iter(lengths.values()), 0)
    return [{name: columns[name][i] for name in columns} for i in range(count)]


def split_rows(split: Any, endpoint: ModelEndpoint) -> list[Any]:
    """``dataframe_split``: ``data`` rows under ``columns`` (or the schema's field order)."""
    if not isinstance(split, dict):
        raise RequestError(f"dataframe_split: expected an object with 'columns' and 'data', got {json_type(split)}")
    unknown = sorted(set(split) - {"columns", "data", "index"})
    if unknown:
        raise RequestError(f"dataframe_split: unknown key(s) {', '.join(unknown)}; known: columns, data, index")
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(data, list):
        raise RequestError("dataframe_split.data: expected a list of rows")
    if columns is None:
        columns = list(endpoint.input_schema.model_fields)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise RequestError("dataframe_split.columns: expected a list of column names")
    rows = []
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(f"dataframe_split.data[{index}]: expected a list of {len(columns)} values "
                               f"({', '.join(columns)})")
        rows.append(dict(zip(columns, row, strict=True)))
    return rows


def json_rows(document: Any, endpoint: ModelEndpoint) -> tuple[list[Any], str]:
    """The rows of a JSON body and the key they came from."""
    if not isinstance(document, dict):
        raise RequestError(f"request body: expected an object with one of {', '.join(INPUT_KEYS)}, "
                           f"got {json_type(document)}")
    given = [key for key in INPUT_KEYS if key in document]
    unknown = sorted(set(document) - {*INPUT_KEYS, "params"})
    if len(given) != 1 or unknown:
        found = ", ".join(sorted(document)) or "none"
        raise RequestError(f"request body: give exactly one of {', '.join(INPUT_KEYS)} (and optionally params); "
                           f"got {found}")
    key = given[0]
    value = document[key]
    if key == "dataframe_split":
        rows = split_rows(value, endpoint)
    elif isinstance(value, dict) and key in ("instances", "inputs"):
        rows = columns_to_rows(value, key)
    elif isinstance(value, list):
        rows = value
    else:
        raise RequestError(f"{key}: expected a list of rows, got {json_type(value)}")
    if not rows:
        raise RequestError(f"{key}: no rows")
    return rows, key


def csv_rows(body: bytes) -> list[dict[str, str]]:
    """A CSV body as one object per line under the header row's names (empty cells left out)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(f"CSV body is not UTF-8 (byte {exc.start})") from None
    try:
        table = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise RequestError(f"CSV body: {exc}") from None
    table = [row for row in table if row]
    if len(table) < 2:
        raise RequestError("CSV body: expected a header row of field names and at least one row of values")
    header = [name.strip() for name in table[0]]
    rows = []
    for line, row in enumerate(table[1:], start=2):
        if len(row) != len(header):
            raise RequestError(f"CSV line {line}: expected {len(header)} values ({', '.join(header)}), got {len(row)}")
        rows.append({name: value for name, value in zip(header, row, strict=True) if value != ""})
    return rows


def add_routes(app: Any, plane: DataPlane, limit: int) -> None:
    """Mount the MLflow scoring routes on the service's router."""

    async def invocations(request: Request) -> Response:
        if not plane.status.started:
            return error(503, health.startup_reason(plane))
        rid = request.headers.get("x-request-id") or new_request_id()
        try:
            endpoint = served_model(request, plane)
            body = await read_body(request, limit, ACCEPT)
            if media_type(request) == "text/csv":
                rows, where = csv_rows(body), "csv"
            else:
                rows, where = json_rows(loads_strict(body), endpoint)
            result = await plane.infer(infer_request(endpoint, rows, where, "mlflow", rid))
        except ModelwardError as exc:
            return error(status_for(exc), exc.message)
        refused = denial(result)
        if refused is not None:
            return error(refused[0], "; ".join(refused[1]))
        return Response(orjson.dumps({"predictions": predictions(result)}, default=str), media_type=JSON,
                        headers={"x-request-id": rid})

    async def ping(_: Request) -> Response:
        if not plane.status.started:
            return Response(health.startup_reason(plane) + "\n", status_code=503, media_type="text/plain")
        return Response("\n", media_type="text/plain")

    async def version(_: Request) -> Response:
        return Response(__version__, media_type="text/plain")

    app.router.add_route("/invocations", invocations, methods=["POST"], include_in_schema=False)
    app.router.add_route("/ping", ping, methods=["GET"], include_in_schema=False)
    app.router.add_route("/health", ping, methods=["GET"], include_in_schema=False)
    app.router.add_route("/version", version, methods=["GET"], include_in_schema=False)
