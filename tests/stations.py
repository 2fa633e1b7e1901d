"""Real OCPP test stations: the `ocpp` library's ChargePoint (1.6J, 2.0.1) over a real websocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v201 import ChargePoint as ChargePoint201

from tests.conftest import PASSWORD


def basic_auth(station_id: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class TestStation(ChargePoint):
    """A charge station; CSMS-initiated calls get handlers in the tests that need them."""

    __test__ = False  # not a pytest test class


class TestStation201(ChargePoint201):
    """An OCPP 2.0.1 charge station."""

    __test__ = False


class AnswersCommands:
    """Mixed into a test station of either version: it answers every CSMS command the way a test
    sets up. `answers` holds per action the `call_result` keyword arguments (snake_case) or a
    callable taking the request's keyword arguments and returning them (else `default_answers`
    of the class); `received` records every request; actions in `silent` are not answered
    until `released` is set. The library handles one CALL at a time, so `max_in_handler` says
    whether the CSMS ever had two in flight."""

    default_answers: dict[str, dict[str, Any] | Callable[..., dict[str, Any]]] = {}
    call_results: ModuleType

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answers: dict[str, dict[str, Any] | Callable[..., dict[str, Any]]] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.silent: set[str] = set()
        self.released = asyncio.Event()
        self.in_handler = 0
        self.max_in_handler = 0

    async def _answer(self, action: str, request: dict[str, Any]):
        self.received.append((action, request))
        self.in_handler += 1
        self.max_in_handler = max(self.max_in_handler, self.in_handler)
        try:
            if action in self.silent:
                await self.released.wait()  # a station that never answers (until the test ends)
            answer = self.answers[action] if action in self.answers else self.default_answers[action]
            if callable(answer):
                answer = answer(**request)
            return getattr(self.call_results, action)(**answer)
        finally:
            self.in_handler -= 1

    def got(self, action: str) -> list[dict[str, Any]]:
        return [request for name, request in self.received if name == action]


def answer_every_command(station_class: type[AnswersCommands]) -> type[AnswersCommands]:
    """Give the class one handler per action of its `default_answers` (the library routes by
    the handler's name, ocpp.routing.routables)."""
    def handler_for(action: str):
        async def handler(self: AnswersCommands, **request):
            return await self._answer(action, request)

        handler.__name__ = handler.__qualname__ = f"on_{action}"
        return on(action)(handler)

    for action in station_class.default_answers:
        setattr(station_class, f"on_{action}", handler_for(action))
    return station_class


@contextlib.asynccontextmanager
async def connected_station(ws_url: str, station_id: str, password: str = PASSWORD,
                            response_timeout: float = 15,
                            station_class: type[TestStation] | type[TestStation201] = TestStation,
                            subprotocols: tuple[str, ...] = ("ocpp1.6",)) -> AsyncIterator[TestStation]:
    async with websockets.connect(
        f"{ws_url}/{station_id}", subprotocols=list(subprotocols), additional_headers=basic_auth(station_id, password),
        open_timeout=30,
    ) as ws:
        station = station_class(station_id, ws, response_timeout=response_timeout)
        task = asyncio.create_task(_run(station))
        try:
            yield station
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _run(station: TestStation) -> None:
    # ChargePoint.start() lets ConnectionClosedOK escape on every disconnect (DESIGN.md).
    with contextlib.suppress(websockets.ConnectionClosed):
        await station.start()


@contextlib.asynccontextmanager
async def raw_socket(ws_url: str, station_id: str, password: str = PASSWORD,
                     subprotocols: tuple[str, ...] = ("ocpp1.6",)):
    """A bare websocket for frames no well-behaved station library would send."""
    async with websockets.connect(
        f"{ws_url}/{station_id}", subprotocols=list(subprotocols), additional_headers=basic_auth(station_id, password),
        open_timeout=30, max_size=None,
    ) as ws:
        yield ws
