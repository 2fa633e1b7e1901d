"""What a simulated station says in each OCPP version: the payloads of its messages, 1.6J and 2.0.1.

scripts.simulator drives the behaviour (boot, statuses, sessions, bursts, reconnects) the same
way for every version; a `Dialect` turns each step into that version's CALL. Payloads are plain
dicts encoded by the simulator with msgspec (no schema validation on the load generator's hot
path); tests check them against the `ocpp` library's schemas.

- 1.6 (OCPP 1.6 sections 4.2-4.10): connectors 0..N, Authorize, StartTransaction (the CSMS
  assigns the id), MeterValues during the session, StopTransaction.
- 2.0.1 (Part 2 B01, G01, C01, E01-E07, J02): one EVSE per simulated connector (EVSE k,
  connector 1), statuses per EVSE and connector, Authorize with an IdTokenType,
  TransactionEvent Started / Updated / Ended with the station's own transactionId, seqNo rising
  by one per event, meter values inside the events (Transaction.Begin, Sample.Periodic,
  Transaction.End).
"""

from __future__ import annotations

from typing import Any, Protocol

# The simulated meter: per-phase current from the power at this voltage (three phases).
_VOLTAGE = 230.0
_REGISTER = "Energy.Active.Import.Register"


class Session(Protocol):
    """What a dialect needs of the connector it speaks for (scripts.simulator._Connector)."""

    id: int
    meter_wh: int
    transaction_id: int | str | None
    seq_no: int


class Dialect:
    """The face every version fills in; the simulator calls only these."""

    version: str
    subprotocol: str
    # Messages the station retries until answered (1.6 section 4.10; 2.0.1 E13: TransactionEvent).
    transaction_actions: frozenset[str]
    status_action = "StatusNotification"

    def boot(self, station_id: str, vendor: str, model: str) -> dict[str, Any]: ...
    def boot_statuses(self, statuses: dict[int, str]) -> list[tuple[int, str]]: ...
    def status(self, connector: int, status: str, timestamp: str) -> dict[str, Any]: ...
    def authorize(self, id_tag: str) -> dict[str, Any]: ...
    def authorized(self, answer: dict[str, Any]) -> bool: ...
    # `run_id` names this run of the station (2.0.1 transaction ids are the station's own and must
    # not repeat across runs), `number` the connector's session in it.
    def start(self, c: Session, run_id: str, number: int, id_tag: str,
              timestamp: str) -> tuple[str, dict[str, Any]]: ...
    def started(self, c: Session, answer: dict[str, Any]) -> bool | None: ...
    def meter(self, c: Session, power_w: float, timestamp: str) -> tuple[str, dict[str, Any]]: ...
    def stop(self, c: Session, id_tag: str, reason: str, timestamp: str) -> tuple[str, dict[str, Any]]: ...
    def remote_start_tag(self, payload: dict[str, Any]) -> tuple[int | None, str | None]: ...
    def remote_stop_id(self, payload: dict[str, Any]) -> int | str | None: ...

    # What the connector's status is called while charging / when free.
    charging_status: str = "Charging"
    free_status: str = "Available"


def _samples(meter_wh: int, power_w: float, context: str, unit_key: str, as_text: bool) -> list[dict[str, Any]]:
    """The four sampled values of a periodic reading; `unit_key` and `as_text` are the versions'
    spelling (1.6: "unit", string values; 2.0.1: "unitOfMeasure", numbers)."""

    def unit(name: str) -> Any:
        return name if unit_key == "unit" else {"unit": name}

    def value(v: float, digits: int) -> Any:
        return f"{v:.{digits}f}" if as_text else round(v, digits)

    return [
        {"value": str(meter_wh) if as_text else meter_wh, "context": context, "measurand": _REGISTER,
         "location": "Outlet", unit_key: unit("Wh")},
        {"value": value(power_w, 1), "context": context, "measurand": "Power.Active.Import", "location": "Outlet",
         unit_key: unit("W")},
        {"value": value(power_w / _VOLTAGE / 3, 2), "context": context, "measurand": "Current.Import",
         "location": "Outlet", unit_key: unit("A")},
        {"value": value(_VOLTAGE, 1), "context": context, "measurand": "Voltage", "location": "Outlet",
         unit_key: unit("V")},
    ]


class Ocpp16(Dialect):
    version = "1.6"
    subprotocol = "ocpp1.6"
    transaction_actions = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})

    def boot(self, station_id: str, vendor: str, model: str) -> dict[str, Any]:
        return {"chargePointVendor": vendor, "chargePointModel": model,
                "chargePointSerialNumber": station_id[-25:], "firmwareVersion": "sim-1.0"}

    def boot_statuses(self, statuses: dict[int, str]) -> list[tuple[int, str]]:
        # Connector 0 is the station itself (1.6 section 4.9).
        return list({0: "Available", **statuses}.items())

    def status(self, connector: int, status: str, timestamp: str) -> dict[str, Any]:
        return {"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": timestamp}

    def authorize(self, id_tag: str) -> dict[str, Any]:
        return {"idTag": id_tag}

    def authorized(self, answer: dict[str, Any]) -> bool:
        return (answer.get("idTagInfo") or {}).get("status") == "Accepted"

    def start(self, c: Session, run_id: str, number: int, id_tag: str,
              timestamp: str) -> tuple[str, dict[str, Any]]:
        return "StartTransaction", {"connectorId": c.id, "idTag": id_tag, "meterStart": c.meter_wh,
                                    "timestamp": timestamp}

    def started(self, c: Session, answer: dict[str, Any]) -> bool | None:
        """None: no transaction (no id given back); else whether the id tag was accepted."""
        if "transactionId" not in answer:
            return None
        c.transaction_id = answer["transactionId"]
        return (answer.get("idTagInfo") or {}).get("status") == "Accepted"

    def meter(self, c: Session, power_w: float, timestamp: str) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"connectorId": c.id, "meterValue": [
            {"timestamp": timestamp, "sampledValue": _samples(c.meter_wh, power_w, "Sample.Periodic", "unit", True)}]}
        if c.transaction_id is not None:
            payload["transactionId"] = c.transaction_id
        return "MeterValues", payload

    def stop(self, c: Session, id_tag: str, reason: str, timestamp: str) -> tuple[str, dict[str, Any]]:
        return "StopTransaction", {"transactionId": c.transaction_id, "idTag": id_tag, "meterStop": c.meter_wh,
                                   "timestamp": timestamp, "reason": reason}

    def remote_start_tag(self, payload: dict[str, Any]) -> tuple[int | None, str | None]:
        return payload.get("connectorId"), payload.get("idTag")

    def remote_stop_id(self, payload: dict[str, Any]) -> int | str | None:
        return payload.get("transactionId")


class Ocpp201(Dialect):
    version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    transaction_actions = frozenset({"TransactionEvent"})
    # ConnectorStatusEnumType: a connector with a cable in is Occupied (G01).
    charging_status = "Occupied"

    def boot(self, station_id: str, vendor: str, model: str) -> dict[str, Any]:
        return {"chargingStation": {"vendorName": vendor, "model": model, "serialNumber": station_id[-25:],
                                    "firmwareVersion": "sim-2.0.1"}, "reason": "PowerUp"}

    def boot_statuses(self, statuses: dict[int, str]) -> list[tuple[int, str]]:
        # G01/B01: after boot, the status of every connector of every EVSE (no station-wide one).
        return list(statuses.items())

    def _status(self, status: str) -> str:
        return self.charging_status if status in ("Charging", "Occupied") else status

    def status(self, connector: int, status: str, timestamp: str) -> dict[str, Any]:
        return {"timestamp": timestamp, "connectorStatus": self._status(status), "evseId": connector,
                "connectorId": 1}

    def authorize(self, id_tag: str) -> dict[str, Any]:
        return {"idToken": {"idToken": id_tag, "type": "ISO14443"}}

    def authorized(self, answer: dict[str, Any]) -> bool:
        return (answer.get("idTokenInfo") or {}).get("status") == "Accepted"

    def _event(self, c: Session, event_type: str, trigger: str, timestamp: str, **extra: Any) -> dict[str, Any]:
        payload = {"eventType": event_type, "timestamp": timestamp, "triggerReason": trigger, "seqNo": c.seq_no,
                   "transactionInfo": {"transactionId": c.transaction_id, **extra.pop("info", {})}, **extra}
        c.seq_no += 1  # E: one up per event of the transaction, from 0
        return payload

    def start(self, c: Session, run_id: str, number: int, id_tag: str,
              timestamp: str) -> tuple[str, dict[str, Any]]:
        # The station names its transactions (TransactionType.transactionId, at most 36 characters),
        # uniquely: a retried event is told by its transactionId + seqNo (E13).
        c.transaction_id = f"{run_id[:20]}-{c.id}-{number}"
        c.seq_no = 0
        return "TransactionEvent", self._event(
            c, "Started", "Authorized", timestamp, info={"chargingState": "Charging"},
            evse={"id": c.id, "connectorId": 1}, idToken=self.authorize(id_tag)["idToken"],
            meterValue=[{"timestamp": timestamp, "sampledValue": [
                {"value": c.meter_wh, "context": "Transaction.Begin", "measurand": _REGISTER,
                 "unitOfMeasure": {"unit": "Wh"}}]}])

    def started(self, c: Session, answer: dict[str, Any]) -> bool | None:
        info = answer.get("idTokenInfo")
        return info is None or info.get("status") == "Accepted"

    def meter(self, c: Session, power_w: float, timestamp: str) -> tuple[str, dict[str, Any]]:
        samples = _samples(c.meter_wh, power_w, "Sample.Periodic", "unitOfMeasure", False)
        if c.transaction_id is None:  # J01: outside a transaction, the EVSE's meter
            return "MeterValues", {"evseId": c.id, "meterValue": [{"timestamp": timestamp, "sampledValue": samples}]}
        return "TransactionEvent", self._event(c, "Updated", "MeterValuePeriodic", timestamp,
                                               meterValue=[{"timestamp": timestamp, "sampledValue": samples}])

    def stop(self, c: Session, id_tag: str, reason: str, timestamp: str) -> tuple[str, dict[str, Any]]:
        trigger = {"Remote": "RemoteStop", "DeAuthorized": "Deauthorized"}.get(reason, "StopAuthorized")
        return "TransactionEvent", self._event(
            c, "Ended", trigger, timestamp, info={"stoppedReason": reason, "chargingState": "Idle"},
            meterValue=[{"timestamp": timestamp, "sampledValue": [
                {"value": c.meter_wh, "context": "Transaction.End", "measurand": _REGISTER,
                 "unitOfMeasure": {"unit": "Wh"}}]}])

    def remote_start_tag(self, payload: dict[str, Any]) -> tuple[int | None, str | None]:
        return payload.get("evseId"), (payload.get("idToken") or {}).get("idToken")

    def remote_stop_id(self, payload: dict[str, Any]) -> int | str | None:
        return payload.get("transactionId")


DIALECTS: dict[str, Dialect] = {d.version: d for d in (Ocpp16(), Ocpp201())}
# "mixed": every other station speaks 2.0.1 (odd indices), the rest 1.6.
VERSIONS = (*DIALECTS, "mixed")


def dialect_of(version: str, index: int) -> Dialect:
    if version == "mixed":
        return DIALECTS["2.0.1" if index % 2 else "1.6"]
    return DIALECTS[version]
