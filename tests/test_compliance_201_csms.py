"""OCPP 2.0.1 compliance of the CSMS for what it initiates, modelled on the Open Charge Alliance's OCTT 2.0.1 test cases with the CSMS as the system under test.

Every test drives the real CSMS (local Ray + Serve, real websockets, real HTTP API) with the
station built on the `ocpp` library's v201 ChargePoint (tests/commanded_201.py), which plays
the OCTT: it validates every CSMS message against the 2.0.1 JSON schemas and answers the way
the case says. The "Manual Action: request the CSMS to ..." of a case is the operator's HTTP
call; the tool validations on the CSMS's messages are asserted on what the station received;
what the CSMS keeps is asserted on what the operator sees. Blocks: B06-B12 (device model,
reset), C (authorization cache), D (local list), E14 (transaction status), F (remote control,
trigger, unlock), G (availability), H (reservation). Requirement ids are Part 2's.

Case ids: TC_B_20, TC_B_25, TC_B_27, TC_C_37, TC_C_38, TC_F_01 and TC_G_05 were checked against
the cases' published text (OCPP 2.0.1 Part 6, 2023-06-30); the others follow Part 6's numbering
as we know it but were not checked against the document.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ocpp.v201 import call

from tests.commanded_201 import answered, boot_201, command, online_201, station_view
from tests.conftest import put_id_tag, register_station
from tests.test_compliance_16 import ts, utcnow

pytestmark = pytest.mark.ray

TOKEN = {"id_token": "OCTT-TOKEN-1", "type": "ISO14443"}
WIRE_TOKEN = {"idToken": "OCTT-TOKEN-1", "type": "ISO14443"}
EVSE = {"id": 1, "connector_id": 1}


def transaction_event(event_type: str, seq_no: int, tx_id: str, trigger: str, **extra) -> call.TransactionEvent:
    info = {"transaction_id": tx_id, **extra.pop("info", {})}
    return call.TransactionEvent(event_type=event_type, timestamp=ts(utcnow()), trigger_reason=trigger, seq_no=seq_no,
                                 transaction_info=info, evse=EVSE, **extra)


async def transaction(csms, station_id: str, tx_id: str) -> dict[str, Any]:
    async with csms.api() as api:
        response = await api.get("/api/transactions", params={"station_id": station_id, "active": "false"})
        listed = response.json()["transactions"]
        response = await api.get("/api/transactions", params={"station_id": station_id})
        listed += response.json()["transactions"]
    [tx] = {t["transaction_id"]: t for t in listed if t["transaction_id"] == tx_id}.values()
    return tx


async def charging(station, tx_id: str = "octt-tx-1") -> None:
    """Reusable State EnergyTransferStarted: a transaction running on EVSE 1."""
    await station.call(transaction_event("Started", 0, tx_id, "ChargingStateChanged",
                                         info={"charging_state": "Charging"}))


# ================================================================================================
# B. Provisioning: device model (B05-B08) and reset (B11, B12)
# ================================================================================================


async def test_TC_B_06_CSMS_get_variables_single_value(csms, station_id):
    await register_station(csms, station_id)
    result = {"get_variable_result": [{"attribute_status": "Accepted", "attribute_value": "300",
                                       "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}
    async with online_201(csms, station_id, answers={"GetVariables": result}) as st:
        answer = await answered(csms, station_id, "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
        assert st.got("GetVariables") == [{"get_variable_data": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}]
    assert answer["getVariableResult"][0]["attributeValue"] == "300"
    [variable] = (await station_view(csms, station_id))["v201"]["device_model"]
    assert (variable["variable"], variable["attributes"][0]["value"]) == ("HeartbeatInterval", "300")


async def test_TC_B_09_CSMS_set_variables_single_value(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        answer = await answered(csms, station_id, "SetVariables", {"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "600"}]})
        assert st.got("SetVariables")[0]["set_variable_data"][0]["attribute_value"] == "600"
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    [variable] = (await station_view(csms, station_id))["v201"]["device_model"]
    assert variable["attributes"][0]["value"] == "600"


async def test_TC_B_10_CSMS_set_variables_multiple_values_each_with_its_own_result(csms, station_id):
    await register_station(csms, station_id)
    results = {"set_variable_result": [
        {"attribute_status": "Accepted", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"attribute_status": "RebootRequired", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}},
        {"attribute_status": "UnknownVariable", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NoSuchThing"}},
    ]}
    async with online_201(csms, station_id, answers={"SetVariables": results}):
        await answered(csms, station_id, "SetVariables", {"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": name}, "attributeValue": "60"}
            for name in ("HeartbeatInterval", "OfflineThreshold", "NoSuchThing")]})
    model = {v["variable"]: v["attributes"][0]["reboot_required"]
             for v in (await station_view(csms, station_id))["v201"]["device_model"]}
    assert model == {"HeartbeatInterval": False, "OfflineThreshold": True}


@pytest.mark.parametrize(("case", "base"), [("TC_B_12_CSMS", "ConfigurationInventory"),
                                            ("TC_B_13_CSMS", "FullInventory")])
async def test_TC_B_12_and_13_CSMS_get_base_report(csms, station_id, case, base):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "GetBaseReport", {"requestId": 7, "reportBase": base})
        [request] = st.got("GetBaseReport")
        assert request == {"request_id": 7, "report_base": base}
        for seq_no in (0, 1):
            await st.call(call.NotifyReport(request_id=7, generated_at=ts(utcnow()), seq_no=seq_no, tbc=seq_no == 0,
                                            report_data=[{"component": {"name": "EVSE", "evse": {"id": 1}},
                                                          "variable": {"name": f"Var{seq_no}"},
                                                          "variable_attribute": [{"value": "x"}]}]))
    [report] = (await station_view(csms, station_id))["v201"]["reports"]
    assert (report["report_base"], report["parts"], report["complete"]) == (base, 2, True), case


async def test_TC_B_18_CSMS_get_custom_report_with_nothing_to_report(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetReport": {"status": "EmptyResultSet"}}):
        await answered(csms, station_id, "GetReport", {"requestId": 8, "componentCriteria": ["Problem"]})
    [report] = (await station_view(csms, station_id))["v201"]["reports"]
    assert (report["request_status"], report["criteria"], report["parts"]) == ("EmptyResultSet", ["Problem"], 0)


async def test_TC_B_20_CSMS_reset_charging_station_without_ongoing_transaction_on_idle(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        assert await answered(csms, station_id, "Reset", {"type": "OnIdle"}) == {"status": "Accepted"}
        assert st.got("Reset") == [{"type": "OnIdle"}]
    # Steps 3-6: the station reboots, boots again and reports its connectors.
    async with online_201(csms, station_id, boot=None) as st:
        result = await st.call(call.BootNotification(charging_station={"model": "M201", "vendor_name": "Acme"},
                                                     reason="RemoteReset"))
        assert result.status == "Accepted"
        await st.call(call.StatusNotification(timestamp=ts(utcnow()), connector_status="Available", evse_id=1,
                                              connector_id=1))
    view = await station_view(csms, station_id)
    assert (view["boot"]["reason"], view["v201"]["last_reset"]["type"], view["v201"]["last_reset"]["status"]) == \
        ("RemoteReset", "OnIdle", "Accepted")


async def test_TC_B_21_CSMS_reset_charging_station_without_ongoing_transaction_immediate(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "Reset", {"type": "Immediate"})
        assert st.got("Reset") == [{"type": "Immediate"}]


async def test_TC_B_22_CSMS_reset_with_ongoing_transaction_on_idle_is_scheduled(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"Reset": {"status": "Scheduled"}}) as st:
        await charging(st)
        assert await answered(csms, station_id, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    assert (await station_view(csms, station_id))["v201"]["last_reset"]["status"] == "Scheduled"


async def test_TC_B_25_CSMS_reset_evse_without_ongoing_transaction(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "Reset", {"type": "OnIdle", "evseId": 1})
        assert st.got("Reset") == [{"type": "OnIdle", "evse_id": 1}]
    assert (await station_view(csms, station_id))["v201"]["last_reset"]["evse_id"] == 1


async def test_TC_B_27_CSMS_reset_evse_with_ongoing_transaction_immediate(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await charging(st, "octt-tx-reset")
        await answered(csms, station_id, "Reset", {"type": "Immediate", "evseId": 1})
        assert st.got("Reset") == [{"type": "Immediate", "evse_id": 1}]
        # Step 3: the station ends the transaction for the reset.
        await st.call(transaction_event("Ended", 1, "octt-tx-reset", "ResetCommand",
                                        info={"charging_state": "EVConnected", "stopped_reason": "ImmediateReset"}))
    tx = await transaction(csms, station_id, "octt-tx-reset")
    assert (tx["active"], tx["stop_reason"]) == (False, "ImmediateReset")


# ================================================================================================
# C. Authorization: the authorization cache (C11)
# ================================================================================================


@pytest.mark.parametrize(("case", "status"), [("TC_C_37_CSMS", "Accepted"), ("TC_C_38_CSMS", "Rejected")])
async def test_TC_C_37_and_38_CSMS_clear_authorization_data_in_authorization_cache(csms, station_id, case, status):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ClearCache": {"status": status}}) as st:
        assert await answered(csms, station_id, "ClearCache") == {"status": status}, case
        assert st.got("ClearCache") == [{}]


# ================================================================================================
# D. Local authorization list (D01, D02)
# ================================================================================================


async def test_TC_D_01_CSMS_send_local_authorization_list_full(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "SendLocalList", {"versionNumber": 1, "updateType": "Full",
                                                           "localAuthorizationList": [
                                                               {"idToken": WIRE_TOKEN, "idTokenInfo": {"status": "Accepted"}}]})
        [request] = st.got("SendLocalList")
        # Tool validation: a Full update whose every entry has its idTokenInfo.
        assert request["update_type"] == "Full"
        assert all("id_token_info" in entry for entry in request["local_authorization_list"])
    local_list = (await station_view(csms, station_id))["v201"]["local_list"]
    assert (local_list["version"], local_list["entries"]) == (1, 1)


async def test_TC_D_02_CSMS_send_local_authorization_list_differential_after_reading_its_version(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetLocalListVersion": {"version_number": 1}}) as st:
        await answered(csms, station_id, "SendLocalList", {"versionNumber": 1, "updateType": "Full"})
        assert await answered(csms, station_id, "GetLocalListVersion") == {"versionNumber": 1}
        await answered(csms, station_id, "SendLocalList", {"versionNumber": 2, "updateType": "Differential",
                                                           "localAuthorizationList": [
                                                               {"idToken": WIRE_TOKEN, "idTokenInfo": {"status": "Blocked"}}]})
        assert st.got("SendLocalList")[1]["version_number"] == 2  # greater than the station's
    local_list = (await station_view(csms, station_id))["v201"]["local_list"]
    assert (local_list["version"], local_list["entries"], local_list["station_reported_version"]) == (2, 1, 1)


async def test_TC_D_01_CSMS_a_full_list_entry_without_its_info_is_never_sent(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        response = await command(csms, station_id, "SendLocalList", {"versionNumber": 3, "updateType": "Full",
                                                                     "localAuthorizationList": [{"idToken": WIRE_TOKEN}]})
        assert response.status_code == 422 and st.received == []


# ================================================================================================
# E. Transactions: checking transaction status (E14)
# ================================================================================================


@pytest.mark.parametrize(("case", "ongoing", "queued"), [
    ("TC_E_29_CSMS", True, True), ("TC_E_30_CSMS", True, False),
    ("TC_E_31_CSMS", False, True), ("TC_E_32_CSMS", False, False),
])
async def test_TC_E_29_to_32_CSMS_check_transaction_status_with_id(csms, station_id, case, ongoing, queued):
    await register_station(csms, station_id)
    answer = {"ongoing_indicator": ongoing, "messages_in_queue": queued}
    async with online_201(csms, station_id, answers={"GetTransactionStatus": answer}) as st:
        await charging(st, "octt-tx-e14")
        await answered(csms, station_id, "GetTransactionStatus", {"transactionId": "octt-tx-e14"})
        assert st.got("GetTransactionStatus") == [{"transaction_id": "octt-tx-e14"}]
    status = (await station_view(csms, station_id))["v201"]["transaction_status"]
    assert (status["transaction_id"], status["ongoing"], status["messages_in_queue"]) == \
        ("octt-tx-e14", ongoing, queued), case


@pytest.mark.parametrize(("case", "queued"), [("TC_E_33_CSMS", True), ("TC_E_34_CSMS", False)])
async def test_TC_E_33_and_34_CSMS_check_transaction_status_without_id(csms, station_id, case, queued):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetTransactionStatus": {"messages_in_queue": queued}}):
        await answered(csms, station_id, "GetTransactionStatus")
    status = (await station_view(csms, station_id))["v201"]["transaction_status"]
    assert (status["transaction_id"], status["ongoing"], status["messages_in_queue"]) == (None, None, queued), case


# ================================================================================================
# F. Remote control: start and stop (F01-F03), unlock (F05), trigger (F06)
# ================================================================================================


async def test_TC_F_01_CSMS_remote_start_transaction_cable_plugin_first(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, WIRE_TOKEN["idToken"])
    async with online_201(csms, station_id) as st:
        # Reusable state EVConnectedPreSession: the cable is in, a transaction runs (TxStartPoint EVConnected).
        await st.call(transaction_event("Started", 0, "octt-tx-f01", "CablePluggedIn",
                                        info={"charging_state": "EVConnected"}))
        st.answers["RequestStartTransaction"] = {"status": "Accepted", "transaction_id": "octt-tx-f01"}
        await answered(csms, station_id, "RequestStartTransaction",
                       {"idToken": WIRE_TOKEN, "remoteStartId": 101, "evseId": 1})
        # Tool validation: idToken as configured.
        assert st.got("RequestStartTransaction")[0]["id_token"] == TOKEN
        await st.call(transaction_event("Updated", 1, "octt-tx-f01", "RemoteStart", id_token=TOKEN,
                                        info={"remote_start_id": 101}))
    tx = await transaction(csms, station_id, "octt-tx-f01")
    assert (tx["remote_start_id"], tx["id_tag"], tx["id_tag_status"]) == (101, "OCTT-TOKEN-1", "Accepted")
    [start] = (await station_view(csms, station_id))["v201"]["remote_starts"]
    assert (start["remote_start_id"], start["transaction_id"]) == (101, "octt-tx-f01")


async def test_TC_F_02_CSMS_remote_start_transaction_remote_start_first(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, WIRE_TOKEN["idToken"])
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "RequestStartTransaction", {"idToken": WIRE_TOKEN, "remoteStartId": 102})
        [start] = (await station_view(csms, station_id))["v201"]["remote_starts"]
        assert start["transaction_id"] is None  # no transaction yet: the cable is not in
        result = await st.call(transaction_event("Started", 0, "octt-tx-f02", "RemoteStart", id_token=TOKEN,
                                                 info={"remote_start_id": 102}))
        assert result.id_token_info["status"] == "Accepted"
    tx = await transaction(csms, station_id, "octt-tx-f02")
    assert tx["remote_start_id"] == 102


async def test_TC_F_03_CSMS_remote_stop_transaction(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await charging(st, "octt-tx-f03")
        assert await answered(csms, station_id, "RequestStopTransaction", {"transactionId": "octt-tx-f03"}) == \
            {"status": "Accepted"}
        assert st.got("RequestStopTransaction") == [{"transaction_id": "octt-tx-f03"}]
        await st.call(transaction_event("Ended", 1, "octt-tx-f03", "RemoteStop",
                                        info={"stopped_reason": "Remote"}))
    tx = await transaction(csms, station_id, "octt-tx-f03")
    assert (tx["active"], tx["stop_reason"]) == (False, "Remote")


async def test_TC_F_05_CSMS_remotely_unlock_connector(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        assert await answered(csms, station_id, "UnlockConnector", {"evseId": 1, "connectorId": 1}) == \
            {"status": "Unlocked"}
        assert st.got("UnlockConnector") == [{"evse_id": 1, "connector_id": 1}]


@pytest.mark.parametrize("message", ["BootNotification", "StatusNotification", "Heartbeat", "MeterValues"])
async def test_TC_F_11_to_F_20_CSMS_trigger_message(csms, station_id, message):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "TriggerMessage", {"requestedMessage": message})
        assert st.got("TriggerMessage") == [{"requested_message": message}]


async def test_TC_F_trigger_message_lets_a_pending_station_send_what_was_asked_b02(csms, station_id):
    await register_station(csms, station_id, boot_status="Pending")
    async with online_201(csms, station_id, boot="Pending") as st:
        await answered(csms, station_id, "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                            "evse": {"id": 1, "connectorId": 1}})
        await st.call(call.StatusNotification(timestamp=ts(utcnow()), connector_status="Available", evse_id=1,
                                              connector_id=1))
    [evse] = (await station_view(csms, station_id))["v201"]["evses"]
    assert evse["connectors"][0]["status"] == "Available"


# ================================================================================================
# G. Availability (G03 EVSE and connector, G04 the station)
# ================================================================================================


@pytest.mark.parametrize(("case", "evse", "status"), [
    ("TC_G_03_CSMS", {"id": 1}, "Inoperative"),
    ("TC_G_04_CSMS", {"id": 1}, "Operative"),
    ("TC_G_05_CSMS", None, "Inoperative"),
    ("TC_G_06_CSMS", None, "Operative"),
    ("TC_G_07_CSMS", {"id": 1, "connectorId": 1}, "Inoperative"),
    ("TC_G_08_CSMS", {"id": 1, "connectorId": 1}, "Operative"),
])
async def test_TC_G_03_to_08_CSMS_change_availability(csms, station_id, case, evse, status):
    await register_station(csms, station_id)
    payload = {"operationalStatus": status, **({"evse": evse} if evse else {})}
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "ChangeAvailability", payload)
        [request] = st.got("ChangeAvailability")
        # Tool validation: the station's change has no evse (TC_G_05), the EVSE's no connector.
        assert request.get("evse") == ({"id": evse["id"], **({"connector_id": evse["connectorId"]}
                                                           if "connectorId" in evse else {})} if evse else None), case
        await st.call(call.StatusNotification(timestamp=ts(utcnow()),
                                              connector_status="Unavailable" if status == "Inoperative" else "Available",
                                              evse_id=1, connector_id=1))
    [requested] = (await station_view(csms, station_id))["v201"]["availability"]
    assert (requested["evse_id"], requested["connector_id"], requested["operational_status"]) == \
        (evse["id"] if evse else None, (evse or {}).get("connectorId"), status)


async def test_TC_G_change_availability_during_a_transaction_is_scheduled(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ChangeAvailability": {"status": "Scheduled"}}) as st:
        await charging(st)
        assert await answered(csms, station_id, "ChangeAvailability",
                              {"operationalStatus": "Inoperative", "evse": {"id": 1}}) == {"status": "Scheduled"}
    [requested] = (await station_view(csms, station_id))["v201"]["availability"]
    assert requested["status"] == "Scheduled"


# ================================================================================================
# H. Reservation (H01-H04)
# ================================================================================================


def reservation(rid: int, evse: int | None = 1, minutes: int = 30) -> dict:
    return {"id": rid, "expiryDateTime": ts(utcnow() + timedelta(minutes=minutes)), "idToken": WIRE_TOKEN,
            **({"evseId": evse} if evse is not None else {})}


async def reservations(csms, station_id: str) -> list[tuple]:
    return [(r["reservation_id"], r["evse_id"]) for r in (await station_view(csms, station_id))["v201"]["reservations"]]


async def test_TC_H_01_CSMS_reserve_a_specific_evse_and_use_it(csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, WIRE_TOKEN["idToken"])
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "ReserveNow", reservation(11))
        assert st.got("ReserveNow")[0]["evse_id"] == 1
        assert await reservations(csms, station_id) == [(11, 1)]
        # The reserved driver arrives: the transaction carries the reservationId (H01).
        await st.call(transaction_event("Started", 0, "octt-tx-h01", "Authorized", id_token=TOKEN, reservation_id=11))
    assert await reservations(csms, station_id) == []


async def test_TC_H_07_CSMS_reserve_an_unspecified_evse(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "ReserveNow", reservation(12, evse=None))
        assert "evse_id" not in st.got("ReserveNow")[0]
    assert await reservations(csms, station_id) == [(12, None)]


@pytest.mark.parametrize("status", ["Occupied", "Faulted", "Unavailable", "Rejected"])
async def test_TC_H_reserve_refused_by_the_station_is_not_kept(csms, station_id, status):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ReserveNow": {"status": status}}):
        assert await answered(csms, station_id, "ReserveNow", reservation(13)) == {"status": status}
    assert await reservations(csms, station_id) == []


async def test_TC_H_15_CSMS_cancel_reservation(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "ReserveNow", reservation(14))
        assert await answered(csms, station_id, "CancelReservation", {"reservationId": 14}) == {"status": "Accepted"}
        assert st.got("CancelReservation") == [{"reservation_id": 14}]
    assert await reservations(csms, station_id) == []


async def test_TC_H_19_CSMS_reservation_expired_or_removed_by_the_station_h03_h04(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as st:
        await answered(csms, station_id, "ReserveNow", reservation(15))
        await answered(csms, station_id, "ReserveNow", reservation(16, evse=2))
        await st.call(call.ReservationStatusUpdate(reservation_id=15, reservation_update_status="Expired"))
        await st.call(call.ReservationStatusUpdate(reservation_id=16, reservation_update_status="Removed"))
    view = await station_view(csms, station_id)
    assert view["v201"]["reservations"] == []
    assert view["v201"]["reservation_updates"] == {"15": "Expired", "16": "Removed"}


async def test_booting_again_keeps_what_the_commands_changed(csms, station_id):
    """What the commands changed is state folded from the log, not the connection's."""
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        await answered(csms, station_id, "ReserveNow", reservation(17))
    async with online_201(csms, station_id, boot=None) as st:
        await boot_201(st)
    assert await reservations(csms, station_id) == [(17, 1)]
