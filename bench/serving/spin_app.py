"""A bare ASGI app whose every request spins the CPU for 1.5 ms (``bench/loop_fairness.py``).

The spin is a model predicted through modelward's own scheduler (``DirectScheduler``), with the
``execution`` that ``SPIN_EXECUTION`` names: ``inline`` (on the event loop, as soon as the request
is read), ``auto`` (at once when alone in its turn of the loop, else queued and predicted one per
turn, first come first served) or ``thread`` (the worker-thread hand-off). Nothing else of the
service runs: no parsing, validation or serialization.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import BaseModel

from modelward.model import MLModel
from modelward.services.config import ModelConfig
from modelward.services.dataplane import ModelEndpoint
from modelward.services.handoff import ThreadHandoff
from modelward.services.loader import LoadedModel
from modelward.services.scheduling import DirectScheduler

SECONDS = 0.0015


class Nothing(BaseModel):
    """The spin model's input and output."""


class SpinModel(MLModel):
    """Spins the CPU for ``SECONDS`` per prediction."""

    display_name = "Spin"
    qualified_name = "spin"
    description = "Spins the CPU for 1.5 ms."
    version = "1"
    input_schema = Nothing
    output_schema = Nothing

    def predict(self, data: Any) -> Any:
        end = time.perf_counter() + SECONDS
        while time.perf_counter() < end:
            pass
        return data


_config = ModelConfig(class_path="spin_app.SpinModel", execution=os.environ.get("SPIN_EXECUTION", "inline"))
_endpoint = ModelEndpoint(LoadedModel(model=SpinModel(), config=_config))
_endpoint.observe(SECONDS)  # measured: fast (``auto`` would send the first call to a thread)
_scheduler = DirectScheduler(ThreadHandoff())
_item = Nothing()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await _scheduler.run(_endpoint, [_item], False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})
