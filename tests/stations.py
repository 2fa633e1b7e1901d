"""Real OCPP test stations: the `ocpp` library's ChargePoint (1.6J, 2.0.1) over a real websocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import websockets
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
