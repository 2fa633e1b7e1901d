"""Operators command OCPP 2.0.1 stations through the real gateway and get the station's real answer.

The station is the `ocpp` library's v201 ChargePoint (tests/commanded_201.py), which checks
every CSMS CALL against the 2.0.1 schemas; the operator API is the judge. The outcome codes are
the 1.6 ones (README, operator API), judged against the station's own version.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import pytest
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16

from actors import directory

import duckdb
import httpx
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call

from actors import lake
from tests.commanded_201 import answered, command, online_201, station_view
from tests.conftest import OPERATOR_TOKEN, VIEWER_TOKEN, register_station
from tests.polling import wait_until
from tests.stations import TestStation, connected_station
from tests.test_compliance_16 import events, handshake
from tests.test_lake_landing import flush_all_hosts

pytestmark = pytest.mark.ray


class ResettingStation16(TestStation):
    """A 1.6 station that refuses to reset and remembers how it was asked."""

    resets: list[str]

    @on("Reset")
    async def on_reset(self, type):
        self.resets = [*getattr(self, "resets", []), type]
        return result16.Reset(status="Rejected")


async def test_clear_cache_returns_the_station_answer(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ClearCache": {"status": "Rejected"}}) as station:
        assert await answered(csms, station_id, "ClearCache") == {"status": "Rejected"}
        assert station.got("ClearCache") == [{}]


async def test_a_registered_station_not_connected_is_409(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        pass  # it spoke 2.0.1, then left
    response = await command(csms, station_id, "ClearCache")
    assert response.status_code == 409, response.text


@pytest.mark.parametrize(("action", "payload"), [
    ("Reset", {"type": "Hard"}),  # 1.6's value: 2.0.1 says Immediate or OnIdle
    ("ClearCache", {"unknown": 1}),  # additionalProperties false
    ("RequestStartTransaction", {"idToken": {"idToken": "T", "type": "ISO14443"}}),  # remoteStartId missing
    ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": "one"}}),
])
async def test_a_payload_off_the_2_0_1_schema_is_422_and_nothing_is_sent(csms, station_id, action, payload):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await command(csms, station_id, action, payload)
        assert response.status_code == 422, response.text
        assert f"invalid {action} payload" in response.json()["detail"]
        assert station.received == []


@pytest.mark.parametrize(("action", "instead"), [
    ("RemoteStartTransaction", "RequestStartTransaction"),
    ("RemoteStopTransaction", "RequestStopTransaction"),
    ("ChangeConfiguration", "SetVariables"),
    ("GetConfiguration", "GetVariables"),
])
async def test_a_1_6_action_to_a_2_0_1_station_is_422_naming_the_one_to_use(csms, station_id, action, instead):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await command(csms, station_id, action, {})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "OCPP 1.6" in detail and "OCPP 2.0.1" in detail and f"use {instead}" in detail
        assert station.received == []


async def test_a_2_0_1_action_to_a_1_6_station_is_422_naming_the_one_to_use(csms, station_id):
    await register_station(csms, station_id)
    async with connected_station(csms.ws_url, station_id, station_class=TestStation) as station:
        await station.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        response = await command(csms, station_id, "RequestStartTransaction",
                                 {"idToken": {"idToken": "T", "type": "ISO14443"}, "remoteStartId": 1})
    assert response.status_code == 422, response.text
    assert "use RemoteStartTransaction" in response.json()["detail"]


async def test_an_action_of_neither_version_is_404(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        assert (await command(csms, station_id, "FlyToTheMoon")).status_code == 404
        # a station-initiated action is no command either
        assert (await command(csms, station_id, "Heartbeat")).status_code == 404
        assert station.received == []
    assert (await command(csms, "nobody-here", "ClearCache")).status_code == 404


async def test_a_1_6_and_a_2_0_1_station_are_commanded_side_by_side(csms, station_id):
    other = f"{station_id}-16"
    await register_station(csms, station_id)
    await register_station(csms, other)
    async with online_201(csms, station_id) as station201, \
            connected_station(csms.ws_url, other, station_class=ResettingStation16) as station16:
        await station16.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        r201, r16 = await asyncio.gather(
            command(csms, station_id, "Reset", {"type": "OnIdle", "evseId": 1}),
            command(csms, other, "Reset", {"type": "Soft"}))
        assert (r201.status_code, r201.json()["response"]) == (200, {"status": "Accepted"})
        assert (r16.status_code, r16.json()["response"]) == (200, {"status": "Rejected"})
        assert station201.got("Reset") == [{"type": "OnIdle", "evse_id": 1}]
        assert station16.resets == ["Soft"]
        # each one's version decides what is valid
        assert (await command(csms, station_id, "Reset", {"type": "Soft"})).status_code == 422
        assert (await command(csms, other, "Reset", {"type": "OnIdle"})).status_code == 422


async def test_one_call_in_flight_the_second_waits_for_the_first_answer(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        station.silent.add("UnlockConnector")
        first = asyncio.create_task(command(csms, station_id, "UnlockConnector", {"evseId": 1, "connectorId": 1}))
        await wait_until(lambda: len(station.received) == 1, 30, "the first command at the station", interval=0.02)
        second = asyncio.create_task(command(csms, station_id, "ClearCache"))
        await wait_until(lambda: _pending_is(csms, station_id, 2), 30, "both commands in the mailbox", interval=0.02)
        assert [a for a, _ in station.received] == ["UnlockConnector"]
        station.released.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200
        assert [a for a, _ in station.received] == ["UnlockConnector", "ClearCache"]
        assert station.max_in_handler == 1


async def _pending_is(csms, station_id: str, expected: int) -> bool:
    """Does the station's host hold `expected` commands for it (in flight and queued)?"""
    host = directory.get_actor(directory.host_for(station_id, directory.host_names(csms.config.station_hosts)))
    return await host.pending_commands.remote(station_id) == expected


# --- every outcome code ---------------------------------------------------------------------------


def _not_supported(**_):
    raise NotSupportedError(description="this station cannot reset")


async def test_the_station_s_callerror_is_502_with_its_code(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"Reset": _not_supported}):
        response = await command(csms, station_id, "Reset", {"type": "Immediate"})
    assert response.status_code == 502, response.text
    assert (response.json()["detail"]["error_code"], response.json()["detail"]["error_description"]) == \
        ("NotSupported", "this station cannot reset")


async def test_no_answer_in_time_is_504(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        station.silent.add("ClearCache")
        response = await command(csms, station_id, "ClearCache")
        assert response.status_code == 504, response.text
        # The line is free again (OCPP-J 4.1.1: a CALL timed out); the station, which handles one
        # CALL at a time, answers late, and the next command is sent and answered.
        station.released.set()
        assert await answered(csms, station_id, "GetLocalListVersion") == {"versionNumber": 0}


async def test_start_and_stop_while_the_boot_is_pending_are_409_b02(csms, station_id):
    await register_station(csms, station_id, boot_status="Pending")
    async with online_201(csms, station_id, boot="Pending") as station:
        start = await command(csms, station_id, "RequestStartTransaction",
                              {"idToken": {"idToken": "T", "type": "ISO14443"}, "remoteStartId": 1})
        stop = await command(csms, station_id, "RequestStopTransaction", {"transactionId": "tx-1"})
        assert (start.status_code, stop.status_code) == (409, 409)
        assert "OCPP 2.0.1 forbids RequestStartTransaction" in start.json()["detail"]["message"]
        # configuring a Pending station is what Pending is for (B02)
        await answered(csms, station_id, "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
        assert [a for a, _ in station.received] == ["GetVariables"]


async def test_commands_beyond_the_queue_bound_get_429(csms, station_id):
    await register_station(csms, station_id)
    bound = csms.config.command_queue_bound
    async with online_201(csms, station_id) as station:
        station.silent.add("ClearCache")
        tasks = [asyncio.create_task(command(csms, station_id, "ClearCache")) for _ in range(bound + 3)]
        await wait_until(lambda: sum(t.done() for t in tasks) >= 3, 30, "three commands refused", interval=0.02)
        station.released.set()
        codes = sorted(r.status_code for r in await asyncio.gather(*tasks))
    assert codes.count(429) == 3 and codes.count(200) == bound


# --- the device model (B06-B08) ----------------------------------------------------------------------


async def variables(csms, station_id: str, token: str | None = None, **query) -> httpx.Response:
    async with csms.api() as api:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return await api.get(f"/api/stations/{station_id}/variables", params=query, headers=headers)


def report_part(seq_no: int, tbc: bool, *names: str) -> call.NotifyReport:
    return call.NotifyReport(request_id=31, generated_at="2026-12-01T10:00:00Z", seq_no=seq_no, tbc=tbc, report_data=[
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name},
         "variable_attribute": [{"type": "Actual", "value": "30", "mutability": "ReadWrite"}],
         "variable_characteristics": {"data_type": "integer", "supports_monitoring": False}}
        for name in names])


async def test_the_device_model_from_a_multi_part_report_is_read_without_a_round_trip_b07(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        assert await answered(csms, station_id, "GetBaseReport",
                              {"requestId": 31, "reportBase": "FullInventory"}) == {"status": "Accepted"}
        [report] = (await station_view(csms, station_id))["v201"]["reports"]
        assert (report["request_id"], report["report_base"], report["request_status"], report["parts"],
                report["complete"]) == (31, "FullInventory", "Accepted", 0, False)
        await station.call(report_part(0, True, "HeartbeatInterval", "MessageTimeout"))
        [report] = (await station_view(csms, station_id))["v201"]["reports"]
        assert (report["parts"], report["complete"]) == (1, False)
        await station.call(report_part(1, False, "OfflineThreshold"))
        [report] = (await station_view(csms, station_id))["v201"]["reports"]
        assert (report["parts"], report["complete"]) == (2, True)

        # GetVariables and SetVariables answers update it
        station.answers["GetVariables"] = {"get_variable_result": [{
            "attribute_status": "Accepted", "attribute_value": "900", "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"}}]}
        await answered(csms, station_id, "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
        station.answers["SetVariables"] = {"set_variable_result": [{
            "attribute_status": "RebootRequired", "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "OfflineThreshold"}}]}
        await answered(csms, station_id, "SetVariables", {"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}, "attributeValue": "60"}]})
        received = len(station.received)
        response = await variables(csms, station_id, component="ocppcommctrlr")  # names are case-insensitive
        assert len(station.received) == received  # read from the store: nothing asked of the station
    assert response.status_code == 200, response.text
    shown = {v["variable"]: [(a["type"], a["value"], a["mutability"], a["reboot_required"]) for a in v["attributes"]]
             for v in response.json()["variables"]}
    assert shown == {"HeartbeatInterval": [("Actual", "900", "ReadWrite", False)],
                     "MessageTimeout": [("Actual", "30", "ReadWrite", False)],
                     "OfflineThreshold": [("Actual", "60", "ReadWrite", True)]}
    one = await variables(csms, station_id, VIEWER_TOKEN, variable="MessageTimeout")  # a viewer reads it
    assert [v["variable"] for v in one.json()["variables"]] == ["MessageTimeout"]


async def test_variables_of_an_unknown_station_are_404_and_need_a_token(csms, station_id):
    assert (await variables(csms, "nobody-here")).status_code == 404
    async with httpx.AsyncClient(base_url=csms.http_url) as anonymous:
        assert (await anonymous.get(f"/api/stations/{station_id}/variables")).status_code == 401


# --- password rotation (A01) and the security profile -------------------------------------------------

NEW_PASSWORD = "rotated-Password.2026"


async def put_password(csms, station_id: str, password: str, push: bool = True) -> httpx.Response:
    async with csms.api() as api:
        return await api.put(f"/api/stations/{station_id}/password", json={"password": password, "push": push})


async def test_password_rotation_then_the_station_reconnects_with_the_new_password_a01(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await put_password(csms, station_id, NEW_PASSWORD)
        assert response.status_code == 200, response.text
        assert response.json() == {"station_id": station_id, "changed": True, "pushed": True,
                                   "station_status": "Accepted"}
        # the station itself got the password in clear, as SetVariables of SecurityCtrlr.BasicAuthPassword
        assert station.got("SetVariables") == [{"set_variable_data": [{
            "attribute_value": NEW_PASSWORD, "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"}}]}]
    v201 = ["ocpp2.0.1"]
    assert await handshake(csms, station_id, subprotocols=v201) == 401  # the old one is refused
    async with online_201(csms, station_id, password=NEW_PASSWORD):
        pass  # connected and booted Accepted with the new one
    shown = json.dumps(await events(csms, station_id)) + json.dumps(await station_view(csms, station_id)) + \
        (await variables(csms, station_id)).text
    assert NEW_PASSWORD not in shown and "BasicAuthPassword" in shown
    await flush_all_hosts(csms)
    payloads = duckdb.sql(
        f"select payload from read_parquet('{lake.bronze_glob(csms.data_root)}', hive_partitioning=true) "
        f"where station_id = '{station_id}'").fetchall()
    assert any("BasicAuthPassword" in p for (p,) in payloads)
    assert not any(NEW_PASSWORD in p for (p,) in payloads)


async def test_a_password_the_station_rejects_keeps_the_old_one(csms, station_id):
    await register_station(csms, station_id)
    rejected = {"set_variable_result": [{"attribute_status": "Rejected", "component": {"name": "SecurityCtrlr"},
                                         "variable": {"name": "BasicAuthPassword"}}]}
    async with online_201(csms, station_id, answers={"SetVariables": rejected}):
        response = await put_password(csms, station_id, NEW_PASSWORD)
    assert response.status_code == 409, response.text
    assert response.json()["detail"]["station_status"] == "Rejected"
    assert await handshake(csms, station_id, subprotocols=["ocpp2.0.1"]) == "ocpp2.0.1"
    assert await handshake(csms, station_id, password=NEW_PASSWORD, subprotocols=["ocpp2.0.1"]) == 401


async def test_a_password_a_2_0_1_station_could_not_use_is_422_and_not_sent_a00_fr_205(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await put_password(csms, station_id, "with spaces and !s ok")  # 16-40, not a passwordString
        assert response.status_code == 422, response.text
        assert "A00.FR.205" in response.json()["detail"]
        assert station.received == []


async def test_an_accepted_security_profile_is_enforced_and_never_lowered_by_the_station(csms, station_id):
    from tests.stations import basic_auth
    from tests.test_tls import handshake as tls_handshake

    await register_station(csms, station_id)
    def profile(value: str) -> dict:
        return {"setVariableData": [{"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
                                     "attributeValue": value}]}
    async with online_201(csms, station_id):
        await answered(csms, station_id, "SetVariables", profile("2"))
    view = await station_view(csms, station_id)
    assert (view["security_profile"], view["security_profile_pending"]) == (0, 2)
    # Pending until it connects with it: back on plain ws it is still let in (docs/security.md).
    assert await handshake(csms, station_id, subprotocols=["ocpp2.0.1"]) == "ocpp2.0.1"
    assert await tls_handshake(csms.wss_url, station_id, csms.pki.client_context(), headers=basic_auth(station_id),
                               subprotocols=["ocpp2.0.1"]) == "ocpp2.0.1"
    assert (await station_view(csms, station_id))["security_profile"] == 2
    # plain ws with Basic auth is profile 1: below what the station connected with
    assert await handshake(csms, station_id, subprotocols=["ocpp2.0.1"]) == 403


# --- replicas and roles -----------------------------------------------------------------------------


async def test_commands_reach_2_0_1_stations_on_every_gateway_replica(csms):
    """Stations spread over the gateway replicas; whichever API replica takes the request
    (the session runs two of each) reaches the station through its host."""
    run = uuid.uuid4().hex[:6]
    stations = [f"CP-201-replica-{run}-{i}" for i in range(6)]
    for sid in stations:
        await register_station(csms, sid)
    async with contextlib.AsyncExitStack() as stack:
        opened = [await stack.enter_async_context(online_201(csms, sid)) for sid in stations]
        views = [await station_view(csms, sid) for sid in stations]
        assert len({v["connection_id"].rsplit("-", 1)[0] for v in views}) == csms.config.gateway_replicas >= 2
        for sid in stations:
            assert await answered(csms, sid, "GetTransactionStatus") == {"messagesInQueue": False}
        assert all(station.got("GetTransactionStatus") == [{}] for station in opened)


@pytest.mark.parametrize(("token", "expected"), [(VIEWER_TOKEN, 403), (OPERATOR_TOKEN, 200)])
async def test_an_operator_commands_a_viewer_does_not(csms, station_id, token, expected):
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        async with httpx.AsyncClient(base_url=csms.http_url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=30) as api:
            response = await api.post(f"/api/stations/{station_id}/commands/ClearCache", json={})
    assert response.status_code == expected, response.text
