"""The single-process central system the product replaces: the baseline of the benchmarks.

It is what most OCPP back ends start as: the Mobility House `ocpp` library's `ChargePoint`
(ocpp.v16, jsonschema validation on every message) behind `websockets.serve`, one
`ChargePoint` per connection, `@on` handlers for the station-initiated core messages, state
in dicts, no durability, no authentication (any Basic credentials are accepted).

    python -m scripts.baseline_central_system --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
from datetime import datetime, timezone
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("baseline")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class BaselineState:
    """Everything the baseline knows, in memory only."""

    def __init__(self, heartbeat_interval: int = 300) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.connected: dict[str, BaselineChargePoint] = {}
        self.boots: dict[str, dict[str, Any]] = {}
        self.heartbeats: dict[str, str] = {}
        # (station, connector) -> (status, errorCode, station timestamp)
        self.statuses: dict[tuple[str, int], tuple[str, str, str | None]] = {}
        # transaction id -> record; (station, connector, idTag, timestamp, meterStart) -> id
        self.transactions: dict[int, dict[str, Any]] = {}
        self.transaction_keys: dict[tuple, int] = {}
        self.meter_values = 0
        self.calls = 0
        self.connections = 0
        self._ids = itertools.count(1)

    def next_transaction_id(self) -> int:
        return next(self._ids)


class BaselineChargePoint(ChargePoint):
    def __init__(self, station_id: str, connection: ServerConnection, state: BaselineState) -> None:
        super().__init__(station_id, connection)
        self.state = state

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any):
        self.state.calls += 1
        self.state.boots[self.id] = {"vendor": charge_point_vendor, "model": charge_point_model, **kwargs}
        return call_result.BootNotification(
            current_time=_now(), interval=self.state.heartbeat_interval,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    def on_heartbeat(self):
        self.state.calls += 1
        now = _now()
        self.state.heartbeats[self.id] = now
        return call_result.Heartbeat(current_time=now)

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str,
                               timestamp: str | None = None, **kwargs: Any):
        self.state.calls += 1
        key = (self.id, connector_id)
        old = self.state.statuses.get(key)
        # The latest status is the one with the newest station timestamp.
        if old is None or old[2] is None or timestamp is None or timestamp >= old[2]:
            self.state.statuses[key] = (status, error_code, timestamp)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str):
        self.state.calls += 1
        return call_result.Authorize(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                             **kwargs: Any):
        st = self.state
        st.calls += 1
        key = (self.id, connector_id, id_tag, timestamp, meter_start)
        tx_id = st.transaction_keys.get(key)  # stations resend: answer idempotently
        if tx_id is None:
            tx_id = st.transaction_keys[key] = st.next_transaction_id()
            st.transactions[tx_id] = {
                "station_id": self.id, "connector_id": connector_id, "id_tag": id_tag,
                "meter_start": meter_start, "start": timestamp, "meter_last": meter_start,
                "meter_stop": None, "stop": None, "reason": None,
            }
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, transaction_id: int | None = None):
        st = self.state
        st.calls += 1
        st.meter_values += 1
        tx = st.transactions.get(transaction_id) if transaction_id is not None else None
        if tx is not None:
            for mv in meter_value:
                for sv in mv.get("sampled_value", ()):
                    if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
                        try:
                            tx["meter_last"] = int(float(sv["value"]))
                        except (KeyError, ValueError):
                            pass
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any):
        st = self.state
        st.calls += 1
        tx = st.transactions.get(transaction_id)
        if tx is not None:
            tx.update(meter_stop=meter_stop, stop=timestamp, reason=kwargs.get("reason"))
        return call_result.StopTransaction(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))


async def _on_connect(connection: ServerConnection, state: BaselineState) -> None:
    path = connection.request.path if connection.request else ""
    station_id = path.rstrip("/").rsplit("/", 1)[-1]
    if not station_id or connection.subprotocol != "ocpp1.6":
        await connection.close(1002, "expected /ocpp/{station_id} with subprotocol ocpp1.6")
        return
    cp = BaselineChargePoint(station_id, connection, state)
    state.connections += 1
    state.connected[station_id] = cp
    try:
        await cp.start()
    except ConnectionClosed:  # start() lets ConnectionClosedOK escape on every disconnect
        pass
    finally:
        if state.connected.get(station_id) is cp:
            del state.connected[station_id]


async def start_baseline(host: str = "127.0.0.1", port: int = 9100,
                         state: BaselineState | None = None, backlog: int = 1024) -> tuple[Server, BaselineState]:
    """Start serving; returns the server (port 0 picks a free one) and its state."""
    state = state or BaselineState()
    server = await serve(
        lambda connection: _on_connect(connection, state), host, port,
        subprotocols=["ocpp1.6"], backlog=backlog,
    )
    return server, state


def server_port(server: Server) -> int:
    return next(iter(server.sockets)).getsockname()[1]


async def _amain(a: argparse.Namespace) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server, state = await start_baseline(a.host, a.port, BaselineState(a.heartbeat_interval), a.backlog)
    print(f"baseline central system listening on ws://{a.host}:{server_port(server)}/ocpp/{{station_id}}",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), a.stats_interval or None)
        except TimeoutError:
            print(f"connected {len(state.connected)} calls {state.calls} "
                  f"transactions {len(state.transactions)}", flush=True)
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.baseline_central_system",
                                description="Baseline single-process OCPP 1.6J central system.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--heartbeat-interval", type=int, default=300)
    p.add_argument("--backlog", type=int, default=1024)
    p.add_argument("--stats-interval", type=float, default=0, help="print counters every N s (0 = never)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_amain(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
