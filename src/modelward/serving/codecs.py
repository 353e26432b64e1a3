"""What the Seldon v1, KServe v1 and MLflow codecs share: which model, bodies, rows and denials.

- ``served_model``: the model a protocol whose paths name none serves (``default_model:`` in the
  service config, else the first model with ``create_endpoint``).
- ``read_body``: the request body, checked as the native route checks it, for the media types a
  protocol accepts.
- ``row_documents``: rows given as lists (in the order of ``names``, or of the input schema's
  fields) or as objects, as the input documents ``DataPlane.infer`` takes.
- ``denial``: a policy's refusal (``PredictionNotAvailable`` outputs) as a 4xx status and its messages.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from modelward.errors import ModelNotFound, RequestError, UnsupportedMediaType
from modelward.model import PredictionNotAvailable
from modelward.model.seldon import SeldonInput, SeldonOutput
from modelward.services.dataplane import DataPlane, ModelEndpoint, json_type
from modelward.services.inference import InferenceRequest, InferenceResult, to_python
from modelward.serving.predict import receive_body

#: the status of a denial whose decorator kept the article's default (200 with the messages)
DENIED = 403


def served_model(request: Request, plane: DataPlane) -> ModelEndpoint:
    """The model that ``/api/v1.0/predictions`` or ``/invocations`` serves."""
    configured = getattr(request.app.state.service_config, "default_model", None)
    if configured:
        return plane.endpoint(configured, for_prediction=True)
    for endpoint in plane.endpoints():
        if endpoint.loaded.config.create_endpoint:
            return endpoint
    raise ModelNotFound("no model with create_endpoint is served")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int, accept: tuple[str, ...] = ("application/json",)) -> bytes:
    """The body (size and content coding checked as the native route does) if its media type is accepted."""
    media = media_type(request)
    if media not in accept and not ("application/json" in accept and media.endswith("+json")):
        raise UnsupportedMediaType(f"Content-Type must be {' or '.join(accept)}, got {media or 'none'}")
    headers = {k.lower().encode(): v for k, v in request.headers.items()}
    headers[b"content-type"] = "application/json"  # the media type is checked above
    return await receive_body(request.receive, headers, limit)


def field_names(endpoint: ModelEndpoint) -> list[str]:
    """The input schema's fields, in their declared order (how rows without names are read)."""
    return list(endpoint.input_schema.model_fields)


def row_documents(rows: list[Any], names: list[str] | None, endpoint: ModelEndpoint,
                  where: str) -> list[Any]:
    """Each row as an input document: an object stays as it is, a list is zipped with ``names``.

    Without ``names`` a list row is read in the order of the input schema's fields.
    """
    columns = names if names else field_names(endpoint)
    documents: list[Any] = []
    for index, row in enumerate(rows):
        if isinstance(row, dict):
            documents.append(row)
        elif isinstance(row, list):
            if len(row) != len(columns):
                source = "names" if names else f"{endpoint.input_schema.__name__}'s fields"
                raise RequestError(f"{where}[{index}]: expected {len(columns)} values ({', '.join(columns)}, "
                                   f"from {source}), got {len(row)}")
            documents.append(dict(zip(columns, row, strict=True)))
        else:
            raise RequestError(f"{where}[{index}]: expected a row (an array or an object), got {json_type(row)}")
    return documents


def takes_messages(endpoint: ModelEndpoint) -> bool:
    """Whether the model is a Seldon Python class (it takes the whole payload as ``X``, not rows)."""
    return endpoint.input_schema is SeldonInput


def infer_request(endpoint: ModelEndpoint, rows: list[Any], where: str, protocol: str,
                  request_id: str) -> InferenceRequest:
    """A request of rows: one document per row, or all rows as ``X`` for a Seldon Python class."""
    if takes_messages(endpoint):
        return InferenceRequest(model=endpoint.qualified_name, inputs=[{"X": rows}], protocol=protocol,
                                request_id=request_id)
    return InferenceRequest(model=endpoint.qualified_name, inputs=row_documents(rows, None, endpoint, where),
                            many=True, protocol=protocol, request_id=request_id)


def predictions(result: InferenceResult) -> list[Any]:
    """The outputs as a list of predictions (a Seldon Python class's rows are its predictions)."""
    outputs = result.outputs
    if len(outputs) == 1 and isinstance(outputs[0], SeldonOutput):
        data = to_python(outputs[0])["data"]
        return data if isinstance(data, list) else [data]
    return [to_python(o) for o in outputs]


def denial(result: InferenceResult) -> tuple[int, list[str]] | None:
    """(status, messages) when a policy withheld any output; rows are named when there are several."""
    denied = [(i, o) for i, o in enumerate(result.outputs) if isinstance(o, PredictionNotAvailable)]
    if not denied:
        return None
    status = next((o.status_code for _, o in denied if 400 <= o.status_code < 500), DENIED)
    several = len(result.outputs) > 1
    messages = [f"row {i}: {m}" if several else m for i, o in denied for m in o.messages]
    return status, messages or ["the prediction is not available"]


def outputs_as_python(result: InferenceResult) -> list[Any]:
    """Every output as JSON-able Python values."""
    return [to_python(o) for o in result.outputs]


def outputs_as_rows(outputs: list[Any]) -> tuple[list[str], list[Any]]:
    """(names, rows): objects as rows of their values under the first object's keys; others as they are."""
    if outputs and all(isinstance(o, dict) for o in outputs):
        names = list(outputs[0])
        return names, [[o.get(n) for n in names] for o in outputs]
    return [], outputs
