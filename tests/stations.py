"""Real OCPP 1.6J test stations: the `ocpp` library's ChargePoint over a real websocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import websockets
from ocpp.v16 import ChargePoint

from tests.conftest import PASSWORD


def basic_auth(station_id: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class TestStation(ChargePoint):
    """A charge station; CSMS-initiated calls get handlers in the tests that need them."""

    __test__ = False  # not a pytest test class


@contextlib.asynccontextmanager
async def connected_station(ws_url: str, station_id: str, password: str = PASSWORD,
                            response_timeout: float = 15,
                            station_class: type[TestStation] = TestStation) -> AsyncIterator[TestStation]:
    async with websockets.connect(
        f"{ws_url}/{station_id}", subprotocols=["ocpp1.6"], additional_headers=basic_auth(station_id, password),
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
async def raw_socket(ws_url: str, station_id: str, password: str = PASSWORD):
    """A bare websocket for frames no well-behaved station library would send."""
    async with websockets.connect(
        f"{ws_url}/{station_id}", subprotocols=["ocpp1.6"], additional_headers=basic_auth(station_id, password),
        open_timeout=30, max_size=None,
    ) as ws:
        yield ws
