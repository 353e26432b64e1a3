"""Where predictions run: ``execution: auto`` on the event loop, first come first served, under any load."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from modelward.errors import PredictionError
from modelward.model import MLModelDecorator
from modelward.services.config import ModelConfig
from modelward.services.dataplane import DataPlane, load_into
from modelward.services.inference import InferenceRequest, to_python
from modelward.services.loader import LoadedModel
from tests.fixtures import EchoModel


class Where(MLModelDecorator):
    """Notes the thread, the input and the event loop's turn of every prediction."""

    threads: list[int]
    values: list[int]
    turns: list[int]
    turn = 0  # advanced once per turn of the loop by ``count_turns``

    def predict(self, data: Any) -> Any:
        if data.value == 13:
            raise PredictionError("13 is unlucky")
        type(self).threads.append(threading.get_ident())
        type(self).values.append(data.value)
        type(self).turns.append(type(self).turn)
        return self.model.predict(data)


async def count_turns() -> None:
    while True:
        Where.turn += 1
        await asyncio.sleep(0)


def plane_for(execution: str) -> DataPlane:
    Where.threads, Where.values, Where.turns = [], [], []
    plane = DataPlane()
    config = ModelConfig(class_path="x.Y", execution=execution)  # type: ignore[arg-type]
    load_into(plane, lambda: [LoadedModel(model=Where().set_model(EchoModel()), config=config)])
    return plane


def request(value: int) -> InferenceRequest:
    return InferenceRequest(model="echo_model", inputs=[{"value": value}])


def on_loop(plane: DataPlane, *batches: int) -> list[list[bool]]:
    """Send ``batches`` of requests that arrive together (one task each, started in one turn of the
    loop), one batch after the other; whether each prediction ran on the loop's thread."""
    places: list[list[bool]] = []

    async def run() -> None:
        loop_thread = threading.get_ident()
        turns = asyncio.ensure_future(count_turns())
        for count in batches:
            Where.threads, Where.values, Where.turns = [], [], []
            await asyncio.gather(*(plane.infer(request(value)) for value in range(count)))
            places.append([thread == loop_thread for thread in Where.threads])
        turns.cancel()

    asyncio.run(run())
    return places


def test_auto_predicts_requests_that_arrive_together_on_the_loop_one_per_turn_in_arrival_order() -> None:
    plane = plane_for("auto")
    first, alone, together = on_loop(plane, 1, 1, 8)
    assert first == [False]  # nothing measured yet: a thread, in case the model is slow
    assert alone == [True]  # a fast model, one request: on the loop at once
    assert together == [True] * 8  # eight together: all on the loop (no thread hand-off) ...
    assert Where.values == list(range(8))  # ... first come first served ...
    # ... and one per turn of the loop, which reads its sockets between two predictions (predicted
    # all in the turn they arrived in, requests are answered in no particular order under load)
    assert all(later > earlier for earlier, later in zip(Where.turns[1:], Where.turns[2:], strict=False))
    assert Where.turns[1] > Where.turns[0]


def test_a_queued_prediction_that_fails_fails_its_own_request_only() -> None:
    plane = plane_for("auto")
    on_loop(plane, 1, 1)  # measured: fast

    async def run() -> list[Any]:
        return await asyncio.gather(*(plane.infer(request(value)) for value in (1, 13, 2)), return_exceptions=True)

    first, failed, third = asyncio.run(run())
    assert isinstance(failed, PredictionError) and "13 is unlucky" in failed.message
    assert [to_python(o)["doubled"] for o in first.outputs + third.outputs] == [2.0, 4.0]


def test_a_request_cancelled_while_queued_is_not_predicted_and_the_queue_goes_on() -> None:
    plane = plane_for("auto")
    on_loop(plane, 1, 1)  # measured: fast

    async def run() -> list[Any]:
        Where.values = []
        tasks = [asyncio.ensure_future(plane.infer(request(value))) for value in range(5)]
        await asyncio.sleep(0)  # they start: 0 predicts at once, 1 to 4 queue
        tasks[3].cancel()  # its client went away
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(run())
    assert isinstance(results[3], asyncio.CancelledError)
    assert Where.values == [0, 1, 2, 4]
    assert [to_python(results[i].outputs[0])["doubled"] for i in (0, 1, 2, 4)] == [0.0, 2.0, 4.0, 8.0]


def test_a_slow_model_goes_to_a_thread_whatever_the_concurrency() -> None:
    plane = plane_for("auto")
    on_loop(plane, 1, 1)
    plane.endpoints()[0].observe(5.0)  # predictions became slow
    (together,) = on_loop(plane, 4)
    assert together == [False] * 4


def test_one_caller_predicting_several_times_in_a_row_stays_on_the_loop() -> None:
    plane = plane_for("auto")

    async def run() -> list[bool]:
        await plane.infer(request(1))  # measured: fast
        Where.threads = []
        for value in range(5):
            await plane.infer(request(value))  # never yields the loop: all in one turn
        return [thread == threading.get_ident() for thread in Where.threads]

    assert asyncio.run(run()) == [True] * 5


@pytest.mark.parametrize(("execution", "expected"), [("inline", [True] * 8), ("thread", [False] * 8)])
def test_fixed_execution_is_kept_whatever_the_concurrency(execution: str, expected: list[bool]) -> None:
    (_, together) = on_loop(plane_for(execution), 1, 8)
    assert together == expected
    if execution == "inline":  # the setting's promise: on the loop as soon as each request asks
        assert len(set(Where.turns)) == 1
