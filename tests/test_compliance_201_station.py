"""OCPP 2.0.1 compliance of the CSMS for what a station initiates, modelled on the OCA's OCTT 2.0.1 CSMS test cases.

Every test drives the real CSMS (local Ray + Serve, real websockets, real HTTP API) with a
station built on the `ocpp` library's v201 ChargePoint, which validates every CSMS answer
against the 2.0.1 JSON schemas. Tests are named after the OCPP 2.0.1 Part 2 use case (and
requirement) they check, the ids the OCTT's CSMS test cases are built from (TC_B_01_CSMS is
B01 "Cold Boot Charging Station - Accepted", TC_B_02_CSMS B02 Pending, TC_B_30_CSMS the
SecurityError of B02/B03, ...): B provisioning (B01-B04; B05 onwards are CSMS-initiated),
C authorization (C01 RFID, C02 start button), E transactions (E01-E13 and E15: start and stop
points, suspension, offline, retries, seqNo, end of charging; E14 is CSMS-initiated),
G availability (G01 status, G02 heartbeat) and J meter values (J01, J02). Each asserts what the specification says the CSMS must answer and what
the operator then sees through the API (one view of transactions for both versions).

The station's times are its own: fixed instants in the past where the test is about them
(offline queues, late statuses), so nothing here depends on the wall clock but the answers'
currentTime.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v201 import call, call_result

from tests.conftest import put_id_tag, register_station
from tests.stations import TestStation201, connected_station

pytestmark = pytest.mark.ray

V201 = ("ocpp2.0.1",)
RFID = "ISO14443"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def token(id_token: str, kind: str = RFID) -> dict[str, str]:
    return {"id_token": id_token, "type": kind}


@contextlib.asynccontextmanager
async def online(csms, station_id: str, *, boot: bool = True) -> AsyncIterator[TestStation201]:
    """The 2.0.1 station connected (and, unless told otherwise, booted and Accepted)."""
    async with connected_station(csms.ws_url, station_id, station_class=TestStation201, subprotocols=V201) as st:
        if boot:
            assert (await cold_boot(st)).status == "Accepted"
        yield st


async def cold_boot(st: TestStation201, reason: str = "PowerUp") -> call_result.BootNotification:
    return await st.call(call.BootNotification(
        charging_station={"model": "Compliance-201", "vendor_name": "Acme", "serial_number": "SN-201-C",
                          "firmware_version": "2.0.1-c"}, reason=reason))


def status(evse: int, connector: int, connector_status: str, at: str) -> call.StatusNotification:
    return call.StatusNotification(timestamp=at, connector_status=connector_status, evse_id=evse,
                                   connector_id=connector)


def register(wh: float, context: str, at: str, unit: str = "Wh", multiplier: int | None = None) -> list[dict]:
    unit_of_measure: dict[str, Any] = {"unit": unit}
    if multiplier is not None:
        unit_of_measure["multiplier"] = multiplier
    return [{"timestamp": at, "sampled_value": [
        {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register",
         "unit_of_measure": unit_of_measure}]}]


def event(event_type: str, seq_no: int, tx_id: str, at: str, trigger: str, *, evse: int | None = 1,
          **extra) -> call.TransactionEvent:
    info = {"transaction_id": tx_id, **extra.pop("info", {})}
    if evse is not None:
        extra["evse"] = {"id": evse, "connector_id": 1}
    return call.TransactionEvent(event_type=event_type, timestamp=at, trigger_reason=trigger, seq_no=seq_no,
                                 transaction_info=info, **extra)


async def view(csms, station_id: str) -> dict:
    async with csms.api() as api:
        response = await api.get(f"/api/stations/{station_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def transactions(csms, station_id: str) -> dict[str, dict]:
    async with csms.api() as api:
        response = await api.get("/api/transactions", params={"station_id": station_id})
    assert response.status_code == 200, response.text
    return {t["transaction_id"]: t for t in response.json()["transactions"]}


def connector_statuses(seen: dict) -> dict[tuple[int, int], str]:
    return {(e["evse_id"], c["connector_id"]): c["status"] for e in seen["v201"]["evses"] for c in e["connectors"]}


# --- B: provisioning (station-initiated) -------------------------------------------------------


async def test_b01_cold_boot_accepted_with_heartbeat_interval_time_and_boot_data_shown(csms, station_id):
    """TC_B_01_CSMS. B01.FR.02: the CSMS answers whether it accepts the station; Accepted carries
    the heartbeat interval (B01.FR.03) and the CSMS's time."""
    await register_station(csms, station_id)
    async with online(csms, station_id, boot=False) as st:
        boot = await cold_boot(st)
        assert boot.status == "Accepted" and boot.interval == csms.config.heartbeat_interval_s > 0
        assert abs(parse(boot.current_time) - datetime.now(timezone.utc)) < timedelta(minutes=1)
        # B01.FR.05 / G01: after boot, every connector of every EVSE reports its status.
        for evse in (1, 2):
            await st.call(status(evse, 1, "Available", "2026-11-20T08:00:00Z"))
        seen = await view(csms, station_id)
    assert (seen["ocpp_version"], seen["boot_status"], seen["connected"]) == ("2.0.1", "Accepted", True)
    assert (seen["boot"]["vendor"], seen["boot"]["model"], seen["boot"]["serial_number"],
            seen["boot"]["firmware_version"]) == ("Acme", "Compliance-201", "SN-201-C", "2.0.1-c")
    assert connector_statuses(seen) == {(1, 1): "Available", (2, 1): "Available"}


async def test_b02_pending_gets_the_retry_interval_refuses_other_calls_and_is_accepted_once_approved(csms, station_id):
    """TC_B_02_CSMS, TC_B_30_CSMS. B02: Pending with an interval for the next boot; B02.FR.09: any
    other CALL (not triggered) is answered SecurityError; once the operator approves, the next
    BootNotification is Accepted."""
    await register_station(csms, station_id, boot_status="Pending")
    async with online(csms, station_id, boot=False) as st:
        pending = await cold_boot(st)
        assert (pending.status, pending.interval) == ("Pending", csms.config.pending_retry_interval_s)
        with pytest.raises(SecurityError):
            await st.call(status(1, 1, "Available", "2026-11-20T08:00:00Z"), suppress=False)
        assert (await view(csms, station_id))["boot_status"] == "Pending"
        await register_station(csms, station_id, boot_status="Accepted")
        accepted = await cold_boot(st)
        assert (accepted.status, accepted.interval) == ("Accepted", csms.config.heartbeat_interval_s)
        await st.call(status(1, 1, "Available", "2026-11-20T08:01:00Z"))
    assert (await view(csms, station_id))["boot_status"] == "Accepted"


async def test_b03_rejected_station_gets_an_interval_and_security_error_for_anything_else(csms, station_id):
    """TC_B_30_CSMS. B03: Rejected, with the interval after which it may boot again; B03.FR.07:
    every other CALL is answered SecurityError."""
    await register_station(csms, station_id, boot_status="Rejected")
    async with online(csms, station_id, boot=False) as st:
        rejected = await cold_boot(st)
        assert rejected.status == "Rejected" and rejected.interval > 0
        for request in (call.Heartbeat(), call.Authorize(id_token=token("ANY-201"))):
            with pytest.raises(SecurityError):
                await st.call(request, suppress=False)
    seen = await view(csms, station_id)
    assert seen["boot_status"] == "Rejected" and seen["v201"]["evses"] == []


async def test_b04_a_station_back_from_offline_reports_what_changed_and_old_statuses_do_not_win(csms, station_id):
    """B04: an idle station that was offline reconnects and sends the statuses that changed while it
    was away (without a new boot, B04.FR.01); the newest station timestamp wins (G01)."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(status(1, 1, "Available", "2026-11-20T08:00:00Z"))
    async with online(csms, station_id, boot=False) as st:
        await st.call(status(1, 1, "Unavailable", "2026-11-20T09:00:00Z"))
        await st.call(status(1, 1, "Faulted", "2026-11-20T08:30:00Z"))  # queued earlier, sent later
        await st.call(call.Heartbeat())
        seen = await view(csms, station_id)
    assert seen["connected"] is True and connector_statuses(seen) == {(1, 1): "Unavailable"}
    [evse] = seen["v201"]["evses"]
    assert parse(evse["connectors"][0]["status_at"]) == parse("2026-11-20T09:00:00Z")


# --- C: authorization -------------------------------------------------------------------------------


@pytest.mark.parametrize(("record", "expected"), [
    ({"status": "Accepted"}, "Accepted"),
    ({"status": "Blocked"}, "Blocked"),
    ({"status": "Accepted", "expiry_date": "2020-01-01T00:00:00Z"}, "Expired"),
])
async def test_c01_authorize_with_rfid_gets_the_status_of_the_id_token(csms, station_id, record, expected):
    """C01.FR.02: the CSMS answers AuthorizeRequest with idTokenInfo; its status is the token's
    (an expiry date in the past makes it Expired)."""
    tag = f"C01-{station_id[-6:]}-{expected}".upper()
    await register_station(csms, station_id)
    await put_id_tag(csms, tag, **record)
    async with online(csms, station_id) as st:
        auth = await st.call(call.Authorize(id_token=token(tag.lower())))  # C01: case insensitive
    assert auth.id_token_info["status"] == expected


async def test_c01_an_unknown_rfid_token_is_not_accepted(csms, station_id, authorizer_server):
    """C01: a token the local table does not know goes the external authorizer's way, as for 1.6;
    the session's authorizer answers Invalid for tokens it does not know either, and so does the CSMS."""
    authorizer_server.reset()
    tag = f"NOBODY-{station_id[-6:]}".upper()
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        auth = await st.call(call.Authorize(id_token=token(tag)))
    assert auth.id_token_info["status"] == "Invalid"
    assert [r.station_id for r in authorizer_server.requests_for(tag)] == [station_id]


async def test_c02_a_start_button_transaction_needs_no_authorization_and_is_accepted(csms, station_id):
    """C02: a station with only a start button starts with idToken type NoAuthorization and an empty
    idToken; there is nothing to authorize: Accepted, and the transaction is shown."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        started = await st.call(event("Started", 0, "tx-c02", "2026-11-20T10:00:00Z", "Authorized",
                                      id_token=token("", "NoAuthorization"),
                                      meter_value=register(100, "Transaction.Begin", "2026-11-20T10:00:00Z")))
        assert started.id_token_info == {"status": "Accepted"}
    tx = (await transactions(csms, station_id))["tx-c02"]
    assert (tx["active"], tx["meter_start_wh"], tx["evse_id"]) == (True, 100, 1)


# --- E: transactions --------------------------------------------------------------------------------


async def test_e01_a_transaction_started_at_ev_connected_is_answered_without_id_token_info(csms, station_id):
    """E01 (TxStartPoint EVConnected): the Started event carries no idToken, so the answer carries no
    idTokenInfo (TransactionEventResponse: only when an idToken was sent); it is an open transaction."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        started = await st.call(event("Started", 0, "tx-e01", "2026-11-20T10:00:00Z", "CablePluggedIn",
                                      info={"charging_state": "EVConnected"}))
        assert started.id_token_info is None
    tx = (await transactions(csms, station_id))["tx-e01"]
    assert (tx["active"], tx["id_tag"], tx["orphan"]) == (True, None, False)


async def test_e02_cable_plugin_first_then_the_token_in_an_updated_event_authorizes_it(csms, station_id):
    """E02: plugged in first (Started, no token), then the driver's token arrives in an Updated event
    (triggerReason Authorized) and is answered with its idTokenInfo."""
    tag = f"E02-{station_id[-6:]}".upper()
    await register_station(csms, station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e02", "2026-11-20T10:00:00Z", "CablePluggedIn"))
        updated = await st.call(event("Updated", 1, "tx-e02", "2026-11-20T10:01:00Z", "Authorized", evse=None,
                                      id_token=token(tag), info={"charging_state": "Charging"}))
        assert updated.id_token_info["status"] == "Accepted"
    tx = (await transactions(csms, station_id))["tx-e02"]
    assert (tx["id_tag"], tx["id_tag_status"], tx["active"]) == (tag, "Accepted", True)


async def test_e03_id_token_first_session_with_its_energy_in_wh(csms, station_id):
    """E03: Authorize, then Started with the same token (Accepted), Updated meter values, Ended:
    the transaction's energy is the register's End minus Begin, kWh converted to Wh."""
    tag = f"E03-{station_id[-6:]}".upper()
    await register_station(csms, station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        assert (await st.call(call.Authorize(id_token=token(tag)))).id_token_info["status"] == "Accepted"
        started = await st.call(event("Started", 0, "tx-e03", "2026-11-20T10:00:00Z", "Authorized",
                                      id_token=token(tag),
                                      meter_value=register(2.5, "Transaction.Begin", "2026-11-20T10:00:00Z", "kWh")))
        assert started.id_token_info["status"] == "Accepted"
        await st.call(event("Updated", 1, "tx-e03", "2026-11-20T10:15:00Z", "MeterValuePeriodic", evse=None,
                            meter_value=register(6.0, "Sample.Periodic", "2026-11-20T10:15:00Z", "kWh")))
        ended = await st.call(event("Ended", 2, "tx-e03", "2026-11-20T10:30:00Z", "EVDeparted", evse=None,
                                    info={"stopped_reason": "EVDisconnected"},
                                    meter_value=register(9.75, "Transaction.End", "2026-11-20T10:30:00Z", "kWh")))
        assert ended.id_token_info is None
    tx = (await transactions(csms, station_id))["tx-e03"]
    assert (tx["active"], tx["meter_start_wh"], tx["meter_stop_wh"], tx["energy_wh"]) == (False, 2500, 9750, 7250)
    assert (tx["stop_reason"], tx["seq_gaps"], tx["meter_value_count"]) == ("EVDisconnected", [], 3)


async def test_e04_a_transaction_started_while_offline_is_accepted_with_the_station_time(csms, station_id):
    """E04: started while the station was offline, delivered when back (offline true, an old
    timestamp): accepted, dated by the station's clock."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e04", "2026-11-19T22:00:00Z", "CablePluggedIn", offline=True,
                            meter_value=register(0, "Transaction.Begin", "2026-11-19T22:00:00Z")))
    tx = (await transactions(csms, station_id))["tx-e04"]
    assert tx["active"] is True and parse(tx["started_at"]) == parse("2026-11-19T22:00:00Z")


@pytest.mark.parametrize(("record", "expected"), [
    ({"status": "Blocked"}, "Blocked"),
    ({"status": "Accepted", "expiry_date": "2020-01-01T00:00:00Z"}, "Expired"),
])
async def test_e05_a_start_with_a_token_that_is_not_accepted_is_answered_so_and_the_station_ends_it(csms, station_id,
                                                                                                  record, expected):
    """E05: the Started event's token is not Accepted (E05.FR.01: idTokenInfo says so); the station
    stops the energy and ends the transaction Deauthorized (E05.FR.02), which is kept as such."""
    tag = f"E05-{station_id[-6:]}".upper()
    await register_station(csms, station_id)
    await put_id_tag(csms, tag, **record)
    async with online(csms, station_id) as st:
        started = await st.call(event("Started", 0, "tx-e05", "2026-11-20T10:00:00Z", "Authorized",
                                      id_token=token(tag)))
        assert started.id_token_info["status"] == expected
        await st.call(event("Ended", 1, "tx-e05", "2026-11-20T10:00:05Z", "Deauthorized", evse=None,
                            info={"stopped_reason": "DeAuthorized"}))
    tx = (await transactions(csms, station_id))["tx-e05"]
    assert (tx["active"], tx["stop_reason"], tx["id_tag_status"]) == (False, "DeAuthorized", expected)


async def test_e06_a_transaction_ends_when_its_stop_point_ends_deauthorized(csms, station_id):
    """E06 (stop transaction options): with TxStopPoint Authorized the transaction ends when the
    authorization ends; the Ended event (triggerReason Deauthorized, stoppedReason DeAuthorized)
    closes it with the energy up to then."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e06", "2026-11-20T10:00:00Z", "Authorized",
                            meter_value=register(200, "Transaction.Begin", "2026-11-20T10:00:00Z")))
        await st.call(event("Ended", 1, "tx-e06", "2026-11-20T10:05:00Z", "Deauthorized", evse=None,
                            info={"stopped_reason": "DeAuthorized"},
                            meter_value=register(450, "Transaction.End", "2026-11-20T10:05:00Z")))
    tx = (await transactions(csms, station_id))["tx-e06"]
    assert (tx["active"], tx["stop_reason"], tx["energy_wh"]) == (False, "DeAuthorized", 250)


async def test_e07_locally_stopped_by_the_id_token_is_answered_and_ends_local(csms, station_id):
    """E07: the driver presents the token again; the Ended event carries it (triggerReason
    StopAuthorized) and is answered with its idTokenInfo; stoppedReason Local."""
    tag = f"E07-{station_id[-6:]}".upper()
    await register_station(csms, station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e07", "2026-11-20T10:00:00Z", "Authorized", id_token=token(tag)))
        ended = await st.call(event("Ended", 1, "tx-e07", "2026-11-20T10:40:00Z", "StopAuthorized", evse=None,
                                    id_token=token(tag), info={"stopped_reason": "Local"}))
        assert ended.id_token_info["status"] == "Accepted"  # the token that stops it is not ConcurrentTx
    tx = (await transactions(csms, station_id))["tx-e07"]
    assert (tx["active"], tx["stop_reason"]) == (False, "Local")


async def test_e08_a_transaction_stopped_while_offline_is_closed_at_the_station_time(csms, station_id):
    """E08: the station lost its connection, the transaction ended meanwhile; the queued Ended
    (offline true) comes after the reconnect and closes it at the time the station says."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e08", "2026-11-20T10:00:00Z", "CablePluggedIn",
                            meter_value=register(1000, "Transaction.Begin", "2026-11-20T10:00:00Z")))
    async with online(csms, station_id, boot=False) as st:
        await st.call(event("Ended", 1, "tx-e08", "2026-11-20T11:00:00Z", "EVCommunicationLost", evse=None,
                            offline=True, info={"stopped_reason": "EVDisconnected"},
                            meter_value=register(5000, "Transaction.End", "2026-11-20T11:00:00Z")))
    tx = (await transactions(csms, station_id))["tx-e08"]
    assert (tx["active"], tx["energy_wh"], tx["seq_gaps"]) == (False, 4000, [])
    assert parse(tx["stopped_at"]) == parse("2026-11-20T11:00:00Z")


async def test_e09_cable_disconnected_on_the_ev_side_ends_the_transaction_ev_disconnected(csms, station_id):
    """E09: TxStopPoint EVConnected and the EV-side cable is unplugged: Ended with triggerReason
    EVCommunicationLost and stoppedReason EVDisconnected; the connector becomes Available (G01)."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(status(1, 1, "Occupied", "2026-11-20T10:00:00Z"))
        await st.call(event("Started", 0, "tx-e09", "2026-11-20T10:00:00Z", "CablePluggedIn"))
        await st.call(event("Ended", 1, "tx-e09", "2026-11-20T10:20:00Z", "EVCommunicationLost", evse=None,
                            info={"stopped_reason": "EVDisconnected"}))
        await st.call(status(1, 1, "Available", "2026-11-20T10:20:01Z"))
        seen = await view(csms, station_id)
    tx = (await transactions(csms, station_id))["tx-e09"]
    assert (tx["active"], tx["stop_reason"]) == (False, "EVDisconnected")
    assert connector_statuses(seen) == {(1, 1): "Available"}


async def test_e10_cable_disconnected_on_the_ev_side_suspends_the_transaction_which_goes_on(csms, station_id):
    """E10: with StopTxOnEVSideDisconnect false, unplugging on the EV side only suspends the
    transaction (Updated, EVCommunicationLost, chargingState Idle); plugged in again it charges on
    in the same transaction, and its energy spans both parts."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e10", "2026-11-20T10:00:00Z", "CablePluggedIn",
                            meter_value=register(0, "Transaction.Begin", "2026-11-20T10:00:00Z")))
        await st.call(event("Updated", 1, "tx-e10", "2026-11-20T10:10:00Z", "EVCommunicationLost",
                            info={"charging_state": "Idle"}))
        suspended = (await transactions(csms, station_id))["tx-e10"]
        await st.call(event("Updated", 2, "tx-e10", "2026-11-20T10:15:00Z", "CablePluggedIn",
                            info={"charging_state": "Charging"}))
        await st.call(event("Ended", 3, "tx-e10", "2026-11-20T10:45:00Z", "StopAuthorized", evse=None,
                            info={"stopped_reason": "Local"},
                            meter_value=register(3000, "Transaction.End", "2026-11-20T10:45:00Z")))
    assert suspended["active"] is True  # a suspension is not an end
    tx = (await transactions(csms, station_id))["tx-e10"]
    assert (tx["active"], tx["energy_wh"], tx["seq_gaps"]) == (False, 3000, [])


async def test_e11_after_a_connection_loss_the_transaction_goes_on_with_the_next_seq_no(csms, station_id):
    """E11: the connection drops during a transaction; the station goes on (offline events queued)
    and delivers them in order on the new connection: one transaction, no seqNo missing."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e11", "2026-11-20T10:00:00Z", "CablePluggedIn",
                            meter_value=register(0, "Transaction.Begin", "2026-11-20T10:00:00Z")))
    async with online(csms, station_id, boot=False) as st:
        for seq_no, minute in ((1, 10), (2, 20)):
            await st.call(event("Updated", seq_no, "tx-e11", f"2026-11-20T10:{minute}:00Z", "MeterValuePeriodic",
                                evse=None, offline=True,
                                meter_value=register(100 * minute, "Sample.Periodic", f"2026-11-20T10:{minute}:00Z")))
        await st.call(event("Ended", 3, "tx-e11", "2026-11-20T10:30:00Z", "EVDeparted", evse=None,
                            meter_value=register(3000, "Transaction.End", "2026-11-20T10:30:00Z")))
    txs = await transactions(csms, station_id)
    assert list(txs) == ["tx-e11"]
    assert (txs["tx-e11"]["seq_gaps"], txs["tx-e11"]["energy_wh"], txs["tx-e11"]["active"]) == ([], 3000, False)


async def test_e12_an_offline_occurred_transaction_delivered_late_in_order_is_one_transaction(csms, station_id):
    """E12: a whole transaction happened while the station was offline; its queued events
    (offline true) come in order after the reconnect, with the station's old times: accepted,
    one transaction with its energy."""
    tag = f"E12-{station_id[-6:]}".upper()
    await register_station(csms, station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        started = await st.call(event("Started", 0, "tx-e12", "2026-11-18T07:00:00Z", "Authorized", offline=True,
                                      id_token=token(tag),
                                      meter_value=register(10, "Transaction.Begin", "2026-11-18T07:00:00Z", "kWh")))
        assert started.id_token_info["status"] == "Accepted"
        await st.call(event("Updated", 1, "tx-e12", "2026-11-18T07:30:00Z", "MeterValuePeriodic", evse=None,
                            offline=True, meter_value=register(12, "Sample.Periodic", "2026-11-18T07:30:00Z", "kWh")))
        await st.call(event("Ended", 2, "tx-e12", "2026-11-18T08:00:00Z", "StopAuthorized", evse=None, offline=True,
                            info={"stopped_reason": "Local"},
                            meter_value=register(15, "Transaction.End", "2026-11-18T08:00:00Z", "kWh")))
    tx = (await transactions(csms, station_id))["tx-e12"]
    assert (tx["active"], tx["energy_wh"], tx["seq_gaps"]) == (False, 5000, [])
    assert (parse(tx["started_at"]), parse(tx["stopped_at"])) == (parse("2026-11-18T07:00:00Z"),
                                                                   parse("2026-11-18T08:00:00Z"))


async def test_e13_a_retried_transaction_event_is_answered_the_same_and_counted_once(csms, station_id):
    """E13: a transaction-related message the station got no answer to is sent again; the CSMS
    answers it (the same) and records it once (same transactionId + seqNo)."""
    tag = f"E13-{station_id[-6:]}".upper()
    await register_station(csms, station_id)
    await put_id_tag(csms, tag)
    async with online(csms, station_id) as st:
        first_started = event("Started", 0, "tx-e13", "2026-11-20T10:00:00Z", "Authorized", id_token=token(tag),
                              meter_value=register(100, "Transaction.Begin", "2026-11-20T10:00:00Z"))
        first = await st.call(first_started)
        again = await st.call(first_started)  # a new message id: a real retry
        assert again.id_token_info == first.id_token_info == {"status": "Accepted"}
        updated = event("Updated", 1, "tx-e13", "2026-11-20T10:10:00Z", "MeterValuePeriodic", evse=None,
                        meter_value=register(700, "Sample.Periodic", "2026-11-20T10:10:00Z"))
        await st.call(updated)
        await st.call(updated)
    tx = (await transactions(csms, station_id))["tx-e13"]
    assert (tx["meter_value_count"], tx["energy_wh"], tx["seq_gaps"]) == (2, 600, [])


async def test_e13_events_lost_from_the_offline_queue_show_as_seq_gaps_and_the_energy_still_counts(csms, station_id):
    """seqNo rises by one per event of a transaction (TransactionEventRequest.seqNo): numbers that
    never arrived (dropped from a full offline queue, E12.FR) are shown; energy is from what came."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-gap", "2026-11-20T10:00:00Z", "CablePluggedIn",
                            meter_value=register(0, "Transaction.Begin", "2026-11-20T10:00:00Z")))
        await st.call(event("Updated", 2, "tx-gap", "2026-11-20T10:20:00Z", "MeterValuePeriodic", evse=None,
                            offline=True, meter_value=register(2000, "Sample.Periodic", "2026-11-20T10:20:00Z")))
        await st.call(event("Ended", 5, "tx-gap", "2026-11-20T10:50:00Z", "EVDeparted", evse=None, offline=True,
                            meter_value=register(5000, "Transaction.End", "2026-11-20T10:50:00Z")))
    tx = (await transactions(csms, station_id))["tx-gap"]
    assert (tx["seq_gaps"], tx["energy_wh"], tx["active"]) == ([1, 3, 4], 5000, False)


# --- G: availability -------------------------------------------------------------------------------


async def test_e15_the_end_of_charging_keeps_the_transaction_open_until_the_ev_leaves(csms, station_id):
    """E15: the EV is full (Updated, ChargingStateChanged, chargingState SuspendedEV): charging
    has ended but the transaction has not; the energy so far is shown, and the Ended event at
    unplugging closes it with the energy of the last register reading."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-e15", "2026-11-20T10:00:00Z", "CablePluggedIn",
                            meter_value=register(1000, "Transaction.Begin", "2026-11-20T10:00:00Z")))
        await st.call(event("Updated", 1, "tx-e15", "2026-11-20T11:00:00Z", "ChargingStateChanged",
                            info={"charging_state": "SuspendedEV"},
                            meter_value=register(21000, "Sample.Periodic", "2026-11-20T11:00:00Z")))
        full = (await transactions(csms, station_id))["tx-e15"]
        await st.call(event("Ended", 2, "tx-e15", "2026-11-20T12:00:00Z", "EVCommunicationLost", evse=None,
                            info={"stopped_reason": "EVDisconnected"},
                            meter_value=register(21000, "Transaction.End", "2026-11-20T12:00:00Z")))
    assert (full["active"], full["energy_wh"]) == (True, 20000)
    tx = (await transactions(csms, station_id))["tx-e15"]
    assert (tx["active"], tx["energy_wh"], tx["stop_reason"]) == (False, 20000, "EVDisconnected")


async def test_g01_status_per_evse_and_connector_newest_station_time_wins(csms, station_id):
    """G01: StatusNotification per EVSE and connector (evseId, connectorId, connectorStatus) is
    answered; the status shown is the one with the newest station timestamp, not the last received."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        for evse, connector_status, at in ((1, "Available", "2026-11-20T10:00:00Z"),
                                           (2, "Occupied", "2026-11-20T10:00:00Z"),
                                           (2, "Faulted", "2026-11-20T10:05:00Z"),
                                           (2, "Available", "2026-11-20T10:01:00Z")):  # late, older
            assert await st.call(status(evse, 1, connector_status, at)) is not None
        seen = await view(csms, station_id)
    assert connector_statuses(seen) == {(1, 1): "Available", (2, 1): "Faulted"}


async def test_g02_heartbeat_gets_the_csms_time_and_updates_last_heartbeat(csms, station_id):
    """G02: the CSMS answers HeartbeatRequest with its current time; the operator sees when the
    station was last heard."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        beat = await st.call(call.Heartbeat())
        assert abs(parse(beat.current_time) - datetime.now(timezone.utc)) < timedelta(minutes=1)
        first = (await view(csms, station_id))["last_heartbeat"]
        await st.call(call.Heartbeat())
        seen = await view(csms, station_id)
    assert first is not None and parse(seen["last_heartbeat"]) > parse(first)


# --- J: meter values -------------------------------------------------------------------------------


async def test_j01_meter_values_outside_a_transaction_are_answered_and_the_evse_meter_is_shown(csms, station_id):
    """J01: clock-aligned meter values not related to a transaction (MeterValuesRequest with an
    evseId) are answered; the EVSE's register reading, multiplier applied, is shown."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        answer = await st.call(call.MeterValues(evse_id=1, meter_value=register(
            4242, "Sample.Clock", "2026-11-20T10:00:00Z", multiplier=1)))
        assert answer is not None
        seen = await view(csms, station_id)
    [evse] = seen["v201"]["evses"]
    assert (evse["evse_id"], evse["meter_wh"]) == (1, 42420)


async def test_j02_transaction_meter_values_in_updated_events_give_the_energy(csms, station_id):
    """J02: a transaction's meter values come inside its TransactionEvents; while it runs, its
    energy is the latest register reading less the start's, kWh converted."""
    await register_station(csms, station_id)
    async with online(csms, station_id) as st:
        await st.call(event("Started", 0, "tx-j02", "2026-11-20T10:00:00Z", "CablePluggedIn",
                            meter_value=register(1.25, "Transaction.Begin", "2026-11-20T10:00:00Z", "kWh")))
        for seq_no, kwh in ((1, 2.0), (2, 3.5)):
            await st.call(event("Updated", seq_no, "tx-j02", f"2026-11-20T10:{seq_no}0:00Z", "MeterValuePeriodic",
                                evse=None, meter_value=register(kwh, "Sample.Periodic",
                                                                f"2026-11-20T10:{seq_no}0:00Z", "kWh")))
        seen = await view(csms, station_id)
    [open_tx] = [t for t in seen["active_transactions"] if t["transaction_id"] == "tx-j02"]
    assert (open_tx["meter_start_wh"], open_tx["energy_wh"], open_tx["meter_value_count"]) == (1250, 2250, 3)
