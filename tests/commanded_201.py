"""An OCPP 2.0.1 test station (the `ocpp` library's v201 ChargePoint) that answers every CSMS command the way a test sets up.

The library validates each CSMS CALL against the 2.0.1 JSON schemas before its handler runs
(an invalid one gets a CALLERROR), so a test that gets an answer also proves we sent a valid
request. `answers` holds per action the `call_result` keyword arguments (snake_case), or a
callable taking the request's keyword arguments and returning them; `received` records every
request; actions in `silent` are never answered (until the test ends).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call, call_result

from tests.conftest import PASSWORD
# The operator's side is the same for every version.
from tests.test_compliance_16 import answered, command  # noqa: F401  (re-exported for the 2.0.1 tests)
from tests.stations import TestStation201, connected_station

V201 = ("ocpp2.0.1",)


def _each(field: str, result: Callable[[dict], dict]) -> Callable[..., dict[str, Any]]:
    return lambda **request: {field: [result(item) for item in request[field.replace("_result", "_data")]]}


# Every CSMS-initiated 2.0.1 action and what a cooperative station answers by default.
DEFAULT_ANSWERS: dict[str, dict[str, Any] | Callable[..., dict[str, Any]]] = {
    "CancelReservation": {"status": "Accepted"},
    "CertificateSigned": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "ClearDisplayMessage": {"status": "Accepted"},
    "ClearVariableMonitoring": lambda id, **_: {"clear_monitoring_result": [{"status": "Accepted", "id": i} for i in id]},
    "CostUpdated": {},
    "CustomerInformation": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted"},
    "DeleteCertificate": {"status": "Accepted"},
    "GetBaseReport": {"status": "Accepted"},
    "GetChargingProfiles": {"status": "NoProfiles"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetDisplayMessages": {"status": "Unknown"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "GetLocalListVersion": {"version_number": 0},
    "GetLog": {"status": "Accepted"},
    "GetMonitoringReport": {"status": "Accepted"},
    "GetReport": {"status": "Accepted"},
    "GetTransactionStatus": {"messages_in_queue": False},
    "GetVariables": _each("get_variable_result", lambda d: {
        "attribute_status": "UnknownVariable", "component": d["component"], "variable": d["variable"]}),
    "InstallCertificate": {"status": "Accepted"},
    "PublishFirmware": {"status": "Accepted"},
    "RequestStartTransaction": {"status": "Accepted"},
    "RequestStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "SetDisplayMessage": {"status": "Accepted"},
    "SetMonitoringBase": {"status": "Accepted"},
    "SetMonitoringLevel": {"status": "Accepted"},
    "SetNetworkProfile": {"status": "Accepted"},
    "SetVariableMonitoring": _each("set_monitoring_result", lambda d: {
        "status": "Accepted", "type": d["type"], "severity": d["severity"],
        "component": d["component"], "variable": d["variable"]}),
    "SetVariables": _each("set_variable_result", lambda d: {
        "attribute_status": "Accepted", "component": d["component"], "variable": d["variable"],
        **({"attribute_type": d["attribute_type"]} if "attribute_type" in d else {})}),
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "UnpublishFirmware": {"status": "Unpublished"},
    "UpdateFirmware": {"status": "Accepted"},
}


class CommandedStation201(TestStation201):
    """A 2.0.1 charging station whose answers to CSMS commands each test chooses."""

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
                await self.released.wait()
            answer = self.answers.get(action, DEFAULT_ANSWERS[action])
            if callable(answer):
                answer = answer(**request)
            return getattr(call_result, action)(**answer)
        finally:
            self.in_handler -= 1

    def got(self, action: str) -> list[dict[str, Any]]:
        return [request for name, request in self.received if name == action]


def _handler(action: str):
    async def handler(self: CommandedStation201, **request):
        return await self._answer(action, request)

    # The library routes by the handler's name (ocpp.routing.routables): one per action.
    handler.__name__ = handler.__qualname__ = f"on_{action}"
    return on(action)(handler)


for _action in DEFAULT_ANSWERS:
    setattr(CommandedStation201, f"on_{_action}", _handler(_action))


async def boot_201(station: TestStation201, expected: str = "Accepted") -> call_result.BootNotification:
    result = await station.call(call.BootNotification(
        charging_station={"model": "M201", "vendor_name": "Acme"}, reason="PowerUp"))
    assert result.status == expected
    return result


@contextlib.asynccontextmanager
async def online_201(csms, station_id: str, *, password: str = PASSWORD, boot: str | None = "Accepted",
                     answers: dict[str, Any] | None = None) -> AsyncIterator[CommandedStation201]:
    """The 2.0.1 station connected and (unless `boot` is None) booted with that answer."""
    async with connected_station(csms.ws_url, station_id, password=password, station_class=CommandedStation201,
                                 subprotocols=V201) as station:
        station.answers.update(answers or {})
        try:
            if boot is not None:
                await boot_201(station, boot)
            yield station
        finally:
            station.released.set()


async def station_view(csms, station_id: str) -> dict[str, Any]:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}")
    assert response.status_code == 200, response.text
    return response.json()
