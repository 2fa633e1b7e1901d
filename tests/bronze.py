"""Hand-written bronze for the analytics tests: events as the live StationSession logs them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from actors import lake
from actors.events import Event


def us(text: str) -> int:
    """Microseconds of an ISO time such as '2026-11-02T10:00:00Z'."""
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


class Bronze:
    """Builds (seq, Event) pairs the way StationSession does: a station CALL and the CSMS's
    answer share the message id and the receive time."""

    def __init__(self, source: str = "station-host-0") -> None:
        self.source = source
        self.events: list[Event] = []
        self._ids = 0

    def _next_id(self) -> str:
        self._ids += 1
        return f"m{self._ids}"

    def call(self, station: str, action: str, payload: dict | str, received: str, *,
             station_ts: str | None = None, result: dict | None = None, error: tuple[str, str] | None = None,
             message_id: str | None = None, ocpp_version: str = "1.6") -> None:
        mid = message_id or self._next_id()
        at = us(received)
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.events.append(Event(station_id=station, received_at_us=at, direction="in", message_type="CALL",
                                 message_id=mid, action=action, payload=text,
                                 station_ts_us=us(station_ts) if station_ts else None, ocpp_version=ocpp_version))
        if error is not None:
            self.events.append(Event(station_id=station, received_at_us=at, direction="out",
                                     message_type="CALLERROR", message_id=mid, action=action,
                                     payload=json.dumps([error[0], error[1], {}]), ocpp_version=ocpp_version))
        else:
            self.events.append(Event(station_id=station, received_at_us=at, direction="out",
                                     message_type="CALLRESULT", message_id=mid, action=action,
                                     payload=json.dumps(result or {}), ocpp_version=ocpp_version))

    def status(self, station: str, connector: int, status: str, at: str, received: str | None = None,
               error_code: str = "NoError", **extra) -> None:
        payload = {"connectorId": connector, "errorCode": error_code, "status": status, "timestamp": at, **extra}
        self.call(station, "StatusNotification", payload, received or at, station_ts=at)

    def start(self, station: str, tx_id: int, at: str, received: str | None = None, connector: int = 1,
              id_tag: str = "TAG1", meter_start: int = 1000, status: str = "Accepted",
              message_id: str | None = None) -> None:
        payload = {"connectorId": connector, "idTag": id_tag, "meterStart": meter_start, "timestamp": at}
        self.call(station, "StartTransaction", payload, received or at, station_ts=at, message_id=message_id,
                  result={"transactionId": tx_id, "idTagInfo": {"status": status}})

    def stop(self, station: str, tx_id: int, at: str, meter_stop: int, received: str | None = None, **extra) -> None:
        payload = {"transactionId": tx_id, "meterStop": meter_stop, "timestamp": at, **extra}
        self.call(station, "StopTransaction", payload, received or at, station_ts=at)

    def meter(self, station: str, at: str, samples: list[dict], received: str | None = None,
              connector: int = 1, tx_id: int | None = None) -> None:
        payload = {"connectorId": connector, "meterValue": [{"timestamp": at, "sampledValue": samples}]}
        if tx_id is not None:
            payload["transactionId"] = tx_id
        self.call(station, "MeterValues", payload, received or at, station_ts=at)

    def session(self, station: str, action: str, payload: dict | str, received: str, message_id: str = "") -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.events.append(Event(station_id=station, received_at_us=us(received), direction="system",
                                 message_type="SESSION", message_id=message_id, action=action, payload=text))

    def authorize(self, station: str, id_tag: str, received: str, status: str = "Accepted",
                  message_id: str | None = None) -> None:
        self.call(station, "Authorize", {"idTag": id_tag}, received, message_id=message_id,
                  result={"idTagInfo": {"status": status}})

    def decided(self, station: str, message_id: str, received: str, source: str, status: str = "Accepted",
                downstream: str = "answered", transaction_id: int | None = None) -> None:
        """The AuthorizationDecided event the session logs with the CALL it decided (same id and receive time)."""
        payload = {"id_tag": "X", "source": source, "downstream": downstream, "status": status}
        if transaction_id is not None:
            payload["transaction_id"] = transaction_id
        self.session(station, "AuthorizationDecided", payload, received, message_id=message_id)

    def remote_start(self, station: str, id_tag: str, sent: str, answered: str | None = None,
                     status: str | None = "Accepted", error: tuple[str, str] | None = None,
                     connector: int | None = 1) -> None:
        """A RemoteStartTransaction the CSMS sent and the station's answer (none when `answered` is None)."""
        mid = self._next_id()
        payload = {"idTag": id_tag, **({"connectorId": connector} if connector is not None else {})}
        self.events.append(Event(station_id=station, received_at_us=us(sent), direction="out", message_type="CALL",
                                 message_id=mid, action="RemoteStartTransaction", payload=json.dumps(payload)))
        if answered is None:
            return
        kind, body = ("CALLERROR", [error[0], error[1], {}]) if error else ("CALLRESULT", {"status": status})
        self.events.append(Event(station_id=station, received_at_us=us(answered), direction="in", message_type=kind,
                                 message_id=mid, action="RemoteStartTransaction", payload=json.dumps(body)))

    def write(self, data_root: Path, file_stem: str | None = None, first_seq: int = 1) -> list[Path]:
        pairs = list(enumerate(self.events, first_seq))
        paths = lake.write_bronze(data_root, pairs, self.source, file_stem or f"{self.source}-{first_seq}")
        self.events = []
        return paths
