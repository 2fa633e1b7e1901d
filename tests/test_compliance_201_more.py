"""Compliance of the CSMS with the OCA OCTT 2.0.1 CSMS test cases of blocks K (smart charging), L (firmware),
N (diagnostics: monitoring, logs, customer information) and O (display messages), named after the case ids.

Each test plays the OCTT's part with the `ocpp` library's v201 ChargePoint (tests/commanded_201.py),
which validates every CALL the CSMS sends against the 2.0.1 schemas, while an operator drives the CSMS
through its API (the OCTT's "manual action"). It asserts the case's tool validations on what the
station received, and what the operator sees afterwards. Requirement ids are OCPP 2.0.1 Part 2's.
Cases whose CSMS side is only "send X, read the answer" are grouped by parameter, one id each.
"""

from __future__ import annotations

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call

from tests.commanded_201 import answered, command, online_201, station_view
from tests.conftest import register_station

pytestmark = pytest.mark.ray

NOW = "2026-11-02T10:00:00Z"
LATER = "2026-11-02T12:00:00Z"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def schedule(limit: float = 16.0, start: str | None = NOW) -> dict:
    out = {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
    return {**out, "startSchedule": start} if start else out


def set_profile(pid: int, purpose: str = "TxDefaultProfile", evse: int = 1, kind: str = "Absolute", stack: int = 0,
                limit: float = 16.0, **extra) -> dict:
    return {"evseId": evse, "chargingProfile": {
        "id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
        "chargingSchedule": [schedule(limit, None if kind == "Relative" else NOW)], **extra}}


async def commands(csms, station_id: str) -> dict:
    return (await station_view(csms, station_id))["v201"]["commands"]


async def energy_transfer_started(station, tx_id: str = "tx-1", evse: int = 1) -> None:
    """The OCTT's reusable state EnergyTransferStarted: a transaction running on the EVSE."""
    await station.call(call.TransactionEvent(
        event_type="Started", timestamp=NOW, trigger_reason="ChargingStateChanged", seq_no=0,
        transaction_info={"transaction_id": tx_id, "charging_state": "Charging"},
        evse={"id": evse, "connector_id": 1}))


def first_period(request: dict) -> dict:
    return request["charging_profile"]["charging_schedule"][0]["charging_schedule_period"][0]


# --- K: smart charging -----------------------------------------------------------------------------------


async def test_tc_k_01_set_tx_default_profile_on_a_specific_evse(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        assert await answered(csms, station_id, "SetChargingProfile", set_profile(1)) == {"status": "Accepted"}
        [sent] = station.got("SetChargingProfile")
        assert (sent["evse_id"], first_period(sent)["start_period"]) == (1, 0)  # K01.FR.31
        assert [(p["profile_id"], p["evse_id"]) for p in (await commands(csms, station_id))["charging_profiles"]] == [(1, 1)]


async def test_tc_k_02_a_tx_profile_without_an_ongoing_transaction_is_not_sent(csms, station_id):
    # Prerequisite "if the CSMS supports sending a TxProfile while there is no transaction": this
    # CSMS does not (K01.FR.03 needs the transactionId of one); the operator learns why.
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        response = await command(csms, station_id, "SetChargingProfile",
                                 set_profile(5, "TxProfile", kind="Relative", transactionId="none"))
        assert response.status_code == 409 and "K01.FR.09" in response.json()["detail"]
        assert station.received == []


async def test_tc_k_03_set_charging_station_max_profile(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetChargingProfile", set_profile(2, "ChargingStationMaxProfile", evse=0))
        [sent] = station.got("SetChargingProfile")
        assert sent["evse_id"] == 0 and sent["charging_profile"]["charging_profile_kind"] != "Relative"  # K01.FR.38
        relative = set_profile(3, "ChargingStationMaxProfile", evse=0, kind="Relative")
        response = await command(csms, station_id, "SetChargingProfile", relative)
        assert response.status_code == 422 and "K01.FR.38" in response.json()["detail"]


async def test_tc_k_04_replace_charging_profile_with_its_id(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetChargingProfile", set_profile(4, limit=8.0))
        await answered(csms, station_id, "SetChargingProfile", set_profile(4, limit=6.0))
        assert [first_period(r)["limit"] for r in station.got("SetChargingProfile")] == [8.0, 6.0]
        [kept] = (await commands(csms, station_id))["charging_profiles"]
        assert (kept["profile_id"], kept["schedules"][0]["periods"][0]["limit"]) == (4, 6.0)  # K01.FR.05


async def test_tc_k_05_clear_charging_profile_with_its_id(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetChargingProfile", set_profile(5))
        await answered(csms, station_id, "ClearChargingProfile", {"chargingProfileId": 5})
        assert station.got("ClearChargingProfile") == [{"charging_profile_id": 5}]  # K10.FR.02
        assert (await commands(csms, station_id))["charging_profiles"] == []


async def test_tc_k_06_clear_charging_profile_by_stack_level_and_purpose(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetChargingProfile", set_profile(6, stack=2))
        await answered(csms, station_id, "SetChargingProfile", set_profile(7, stack=3))
        criteria = {"chargingProfileCriteria": {"stackLevel": 2, "chargingProfilePurpose": "TxDefaultProfile"}}
        await answered(csms, station_id, "ClearChargingProfile", criteria)
        assert station.got("ClearChargingProfile")[0]["charging_profile_criteria"]["stack_level"] == 2
        assert [p["profile_id"] for p in (await commands(csms, station_id))["charging_profiles"]] == [7]
        # K10.FR.02: a clear that names nothing is refused, not sent to clear everything
        assert (await command(csms, station_id, "ClearChargingProfile", {})).status_code == 422


async def test_tc_k_08_clear_charging_profile_without_previous_profile(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ClearChargingProfile": {"status": "Unknown"}}):
        assert await answered(csms, station_id, "ClearChargingProfile", {"chargingProfileId": 99}) == {"status": "Unknown"}


async def test_tc_k_10_set_tx_default_profile_on_all_evses(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetChargingProfile", set_profile(10, evse=0))
        assert station.got("SetChargingProfile")[0]["evse_id"] == 0
        assert [p["evse_id"] for p in (await commands(csms, station_id))["charging_profiles"]] == [0]


async def test_tc_k_15_set_charging_profile_not_supported(csms, station_id):
    def not_supported(**_):
        raise NotSupportedError("smart charging is not supported")

    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"SetChargingProfile": not_supported}):
        response = await command(csms, station_id, "SetChargingProfile", set_profile(15))
        assert response.status_code == 502 and response.json()["detail"]["error_code"] == "NotSupported"
        assert (await commands(csms, station_id))["charging_profiles"] == []


async def test_tc_k_19_set_recurring_charging_profile(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetChargingProfile", set_profile(19, kind="Recurring", recurrencyKind="Daily"))
        assert station.got("SetChargingProfile")[0]["charging_profile"]["recurrency_kind"] == "Daily"
        missing = set_profile(20, kind="Recurring")
        assert (await command(csms, station_id, "SetChargingProfile", missing)).status_code == 422


@pytest.mark.parametrize(("case", "criteria", "evse"), [
    ("TC_K_29", {"chargingProfilePurpose": "ChargingStationMaxProfile"}, 0),
    ("TC_K_30", {"chargingProfilePurpose": "TxDefaultProfile"}, 1),
    ("TC_K_31", {"chargingLimitSource": ["CSO"]}, None),
    ("TC_K_32", {"chargingProfileId": [32]}, None),
    ("TC_K_33", {"stackLevel": 0}, 1),
    ("TC_K_34", {"chargingLimitSource": ["CSO"]}, 1),
    ("TC_K_35", {"chargingProfilePurpose": "TxDefaultProfile"}, 1),
    ("TC_K_36", {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0}, 1),
])
async def test_tc_k_29_to_36_get_charging_profiles_reports_tie_to_the_request(csms, station_id, case, criteria, evse):
    await register_station(csms, station_id)
    request = {"requestId": 29, "chargingProfile": criteria, **({"evseId": evse} if evse is not None else {})}
    async with online_201(csms, station_id, answers={"GetChargingProfiles": {"status": "Accepted"}}) as station:
        await answered(csms, station_id, "GetChargingProfiles", request)
        [sent] = station.got("GetChargingProfiles")
        assert sent.get("evse_id") == evse and sent["request_id"] == 29
        profile = set_profile(32, "ChargingStationMaxProfile" if evse == 0 else "TxDefaultProfile", evse=evse or 1)
        await station.call(call.ReportChargingProfiles(
            request_id=29, charging_limit_source="CSO", evse_id=evse or 1, charging_profile=[{
                "id": 32, "stack_level": 0, "charging_profile_purpose": profile["chargingProfile"]["chargingProfilePurpose"],
                "charging_profile_kind": "Absolute", "charging_schedule": [{
                    "id": 1, "start_schedule": NOW, "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": 16}]}]}]))
        [report] = (await commands(csms, station_id))["charging_profile_reports"]
        assert (report["request_id"], report["complete"], [p["profile_id"] for p in report["profiles"]]) == (29, True, [32])
    # K09.FR.03: criteria that name nothing are refused, whether the station is connected or not
    refused = await command(csms, station_id, "GetChargingProfiles", {"requestId": 1, "chargingProfile": {}})
    assert refused.status_code == 422 and "K09.FR.03" in refused.json()["detail"]


async def test_tc_k_37_remote_start_with_a_tx_profile_carries_no_transaction_id(csms, station_id):
    # F01.FR.09 / F01.FR.11: RequestStartTransaction's profile is a TxProfile without a transactionId.
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        profile = set_profile(37, "TxProfile", kind="Relative")["chargingProfile"]
        await answered(csms, station_id, "RequestStartTransaction", {
            "idToken": {"idToken": "TAG1", "type": "ISO14443"}, "remoteStartId": 37, "evseId": 1,
            "chargingProfile": profile})
        [sent] = station.got("RequestStartTransaction")
        assert sent["charging_profile"]["charging_profile_purpose"] == "TxProfile"
        assert "transaction_id" not in sent["charging_profile"]


@pytest.mark.parametrize(("case", "evse"), [("TC_K_43", 1), ("TC_K_44", 0)])
async def test_tc_k_43_44_get_composite_schedule(csms, station_id, case, evse):
    answer = {"status": "Accepted", "schedule": {"evse_id": evse, "duration": 300, "schedule_start": NOW,
                                                 "charging_rate_unit": "A",
                                                 "charging_schedule_period": [{"start_period": 0, "limit": 10}]}}
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetCompositeSchedule": answer}) as station:
        response = await answered(csms, station_id, "GetCompositeSchedule", {"duration": 300, "evseId": evse})
        assert response["schedule"]["evseId"] == evse  # K08.FR.01: the operator gets the station's own schedule
        assert station.got("GetCompositeSchedule") == [{"duration": 300, "evse_id": evse}]
        [kept] = (await commands(csms, station_id))["composite_schedules"]
        assert (kept["evse_id"], kept["periods"][0]["limit"]) == (evse, 10)


async def test_tc_k_60_set_tx_profile_for_the_ongoing_transaction(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await energy_transfer_started(station, "tx-60")
        await answered(csms, station_id, "SetChargingProfile",
                       set_profile(60, "TxProfile", kind="Relative", transactionId="tx-60"))
        [sent] = station.got("SetChargingProfile")
        profile = sent["charging_profile"]
        assert (sent["evse_id"], profile["transaction_id"], profile["charging_profile_kind"]) == (1, "tx-60", "Relative")
        assert "start_schedule" not in profile["charging_schedule"][0] and first_period(sent)["start_period"] == 0
        # K01.FR.03: a TxProfile without its transactionId is refused
        assert (await command(csms, station_id, "SetChargingProfile",
                              set_profile(61, "TxProfile", kind="Relative"))).status_code == 422


async def test_tc_k_70_multiple_profiles_of_different_purposes(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        await answered(csms, station_id, "SetChargingProfile", set_profile(70))
        await answered(csms, station_id, "SetChargingProfile", set_profile(71, "ChargingStationMaxProfile", evse=0))
        kept = (await commands(csms, station_id))["charging_profiles"]
        assert sorted((p["profile_id"], p["purpose"]) for p in kept) == [
            (70, "TxDefaultProfile"), (71, "ChargingStationMaxProfile")]


# --- L: firmware ---------------------------------------------------------------------------------------------


def update_firmware(request_id: int, **firmware) -> dict:
    return {"requestId": request_id, "firmware": {
        "location": "https://fw.example.com/v2.bin", "retrieveDateTime": NOW,
        "signingCertificate": CERTIFICATE, "signature": "c2lnbmF0dXJl", **firmware}}


async def firmware_progress(station, request_id: int, *statuses: str) -> None:
    for status in statuses:
        await station.call(call.FirmwareStatusNotification(status=status, request_id=request_id))


@pytest.mark.parametrize(("case", "firmware", "progress"), [
    ("TC_L_01", {}, ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting")),
    ("TC_L_02", {"installDateTime": LATER},
     ("Downloading", "Downloaded", "SignatureVerified", "InstallScheduled", "Installing", "InstallRebooting")),
    ("TC_L_03", {"retrieveDateTime": LATER},
     ("DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting")),
])
async def test_tc_l_01_to_03_secure_firmware_update_installed(csms, station_id, case, firmware, progress):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        assert await answered(csms, station_id, "UpdateFirmware", update_firmware(1, **firmware)) == {"status": "Accepted"}
        [sent] = station.got("UpdateFirmware")
        assert sent["firmware"]["signing_certificate"] == CERTIFICATE and sent["firmware"]["signature"]  # L01.FR.11
        await firmware_progress(station, 1, *progress)
        assert (await commands(csms, station_id))["firmware_update"]["progress"] == "InstallRebooting"
    async with online_201(csms, station_id, boot=None) as station:  # L01.FR.15: it reboots, then reports
        await station.call(call.BootNotification(charging_station={"model": "M201", "vendor_name": "Acme"},
                                                 reason="FirmwareUpdate"))
        await firmware_progress(station, 1, "Installed")
        fw = (await commands(csms, station_id))["firmware_update"]
        assert (fw["request_id"], fw["status"], fw["progress"], fw["signed"]) == (1, "Accepted", "Installed", True)


@pytest.mark.parametrize(("case", "answer"), [("TC_L_04", "RevokedCertificate"), ("TC_L_05", "InvalidCertificate")])
async def test_tc_l_04_05_a_refused_signing_certificate_is_shown(csms, station_id, case, answer):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"UpdateFirmware": {"status": answer}}) as station:
        assert (await answered(csms, station_id, "UpdateFirmware", update_firmware(4)))["status"] == answer
        if answer == "InvalidCertificate":
            await station.call(call.SecurityEventNotification(type="InvalidFirmwareSigningCertificate", timestamp=NOW))
        view = await station_view(csms, station_id)
        assert view["v201"]["commands"]["firmware_update"]["status"] == answer


@pytest.mark.parametrize(("case", "progress"), [
    ("TC_L_06", ("Downloading", "Downloaded", "InvalidSignature")),
    ("TC_L_07", ("Downloading", "DownloadFailed")),
    ("TC_L_08", ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallVerificationFailed")),
    ("TC_L_09", ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallationFailed")),
])
async def test_tc_l_06_to_09_a_failed_update_shows_where_it_failed(csms, station_id, case, progress):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "UpdateFirmware", update_firmware(6))
        await firmware_progress(station, 6, *progress)
        assert (await commands(csms, station_id))["firmware_update"]["progress"] == progress[-1]


@pytest.mark.parametrize(("case", "second_answer", "shown"), [
    ("TC_L_10", "AcceptedCanceled", (11, "AcceptedCanceled")),  # L01.FR.24: the second replaces the first
    ("TC_L_11", "Rejected", (11, "Rejected")),  # L01.FR.27: it could not cancel; the answer says so
])
async def test_tc_l_10_11_a_second_update_while_one_runs(csms, station_id, case, second_answer, shown):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "UpdateFirmware", update_firmware(10))
        await firmware_progress(station, 10, "Downloading")
        station.answers["UpdateFirmware"] = {"status": second_answer}
        await answered(csms, station_id, "UpdateFirmware", update_firmware(11))
        fw = (await commands(csms, station_id))["firmware_update"]
        assert (fw["request_id"], fw["status"]) == shown
        assert [r["request_id"] for r in station.got("UpdateFirmware")] == [10, 11]


async def test_tc_l_13_update_during_a_transaction_waits_and_reports(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await energy_transfer_started(station, "tx-13")
        await answered(csms, station_id, "UpdateFirmware", update_firmware(13))
        await firmware_progress(station, 13, "DownloadScheduled")
        await station.call(call.StatusNotification(timestamp=NOW, connector_status="Unavailable", evse_id=1,
                                                   connector_id=1))
        view = await station_view(csms, station_id)
        assert view["v201"]["commands"]["firmware_update"]["progress"] == "DownloadScheduled"
        assert view["v201"]["evses"][0]["connectors"][0]["status"] == "Unavailable"


@pytest.mark.parametrize(("case", "progress"), [
    ("TC_L_17", ("Downloading", "Downloaded", "ChecksumVerified", "Published")),
    ("TC_L_19", ("Downloading", "Downloaded", "InvalidChecksum")),
    ("TC_L_20", ("Downloading", "Downloaded", "ChecksumVerified", "PublishFailed")),
    ("TC_L_24", ("Downloading", "DownloadFailed")),
])
async def test_tc_l_17_to_24_publish_firmware(csms, station_id, case, progress):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "PublishFirmware",
                       {"requestId": 17, "location": "https://fw.example.com/v2.bin", "checksum": MD5})
        assert station.got("PublishFirmware")[0]["location"] == "https://fw.example.com/v2.bin"
        for status in progress:
            locations = {"location": ["http://lc.local/v2.bin"]} if status == "Published" else {}
            await station.call(call.PublishFirmwareStatusNotification(status=status, request_id=17, **locations))
        publication = (await commands(csms, station_id))["firmware_publication"]
        assert publication["progress"] == progress[-1]
        assert publication["published_locations"] == (["http://lc.local/v2.bin"] if case == "TC_L_17" else [])


@pytest.mark.parametrize(("case", "answer", "unpublished"), [
    ("TC_L_21", "Unpublished", True), ("TC_L_22", "NoFirmware", True), ("TC_L_23", "DownloadOngoing", False),
])
async def test_tc_l_21_to_23_unpublish_firmware(csms, station_id, case, answer, unpublished):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"UnpublishFirmware": {"status": answer}}) as station:
        await answered(csms, station_id, "PublishFirmware",
                       {"requestId": 21, "location": "https://fw.example.com/v2.bin", "checksum": MD5})
        assert (await answered(csms, station_id, "UnpublishFirmware", {"checksum": MD5}))["status"] == answer
        assert station.got("UnpublishFirmware") == [{"checksum": MD5}]
        assert (await commands(csms, station_id))["firmware_publication"]["unpublished"] is unpublished


# --- N: diagnostics -------------------------------------------------------------------------------------------

EVSE_TEMPERATURE = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Temperature"}}


@pytest.mark.parametrize(("case", "request_body"), [
    ("TC_N_01", {"monitoringCriteria": ["ThresholdMonitoring", "DeltaMonitoring"]}),
    ("TC_N_02", {"componentVariable": [EVSE_TEMPERATURE]}),
    ("TC_N_03", {"monitoringCriteria": ["PeriodicMonitoring"], "componentVariable": [EVSE_TEMPERATURE]}),
    ("TC_N_47", {}),
    ("TC_N_60", {"monitoringCriteria": ["ThresholdMonitoring"],
                 "componentVariable": [EVSE_TEMPERATURE, {"component": {"name": "ChargingStation"}}]}),
])
async def test_tc_n_01_to_03_47_60_get_monitoring_report(csms, station_id, case, request_body):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "GetMonitoringReport", {"requestId": 1, **request_body})
        [sent] = station.got("GetMonitoringReport")
        assert ("monitoring_criteria" in sent, "component_variable" in sent) == (
            "monitoringCriteria" in request_body, "componentVariable" in request_body)
        monitor = {**{k: v for k, v in EVSE_TEMPERATURE.items()}, "variable_monitoring": [
            {"id": 5, "transaction": False, "value": 70, "type": "UpperThreshold", "severity": 2}]}
        await station.call(call.NotifyMonitoringReport(request_id=1, seq_no=0, generated_at=NOW, tbc=True,
                                                       monitor=[monitor]))
        await station.call(call.NotifyMonitoringReport(request_id=1, seq_no=1, generated_at=NOW))
        found = await commands(csms, station_id)
        assert [(r["request_id"], r["status"], r["complete"]) for r in found["monitoring_reports"]] == [(1, "Accepted", True)]
        assert [m["monitor_id"] for m in found["monitors"]] == [5]


async def test_tc_n_05_set_monitoring_base(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        for base in ("All", "FactoryDefault", "HardWiredOnly"):  # N03.FR.03-05
            await answered(csms, station_id, "SetMonitoringBase", {"monitoringBase": base})
        assert [r["monitoring_base"] for r in station.got("SetMonitoringBase")] == ["All", "FactoryDefault", "HardWiredOnly"]
        assert (await commands(csms, station_id))["monitoring_base"] == "HardWiredOnly"


def accept_monitors(set_monitoring_data, **_):
    return {"set_monitoring_result": [
        {"id": 80 + i, "status": "Accepted", "type": d["type"], "severity": d["severity"], "component": d["component"],
         "variable": d["variable"]} for i, d in enumerate(set_monitoring_data)]}


@pytest.mark.parametrize(("case", "data"), [
    ("TC_N_08", [{"value": 70, "type": "UpperThreshold", "severity": 4, **EVSE_TEMPERATURE}]),
    ("TC_N_09", [{"value": 70, "type": "UpperThreshold", "severity": 4, **EVSE_TEMPERATURE},
                 {"value": 1, "type": "Delta", "severity": 8,  # N04.FR.17: 1 for a non-numeric Delta
                  "component": {"name": "ChargingStation"}, "variable": {"name": "AvailabilityState"}}]),
])
async def test_tc_n_08_09_set_variable_monitoring(csms, station_id, case, data):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"SetVariableMonitoring": accept_monitors}) as station:
        response = await answered(csms, station_id, "SetVariableMonitoring", {"setMonitoringData": data})
        assert len(response["setMonitoringResult"]) == len(data)  # N04.FR.01
        assert len(station.got("SetVariableMonitoring")[0]["set_monitoring_data"]) == len(data)
        kept = (await commands(csms, station_id))["monitors"]
        assert [(m["monitor_id"], m["value"]) for m in kept] == [(80 + i, d["value"]) for i, d in enumerate(data)]


@pytest.mark.parametrize(("case", "severity", "answer"), [("TC_N_16", 5, "Accepted"), ("TC_N_17", 11, "Rejected")])
async def test_tc_n_16_17_set_monitoring_level(csms, station_id, case, severity, answer):
    # N05.FR.02: a severity out of range is the station's to reject; the CSMS sends it and shows the answer.
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"SetMonitoringLevel": {"status": answer}}):
        assert (await answered(csms, station_id, "SetMonitoringLevel", {"severity": severity}))["status"] == answer
        assert (await commands(csms, station_id))["monitoring_level"] == (severity if answer == "Accepted" else None)


async def test_tc_n_18_clear_monitoring_never_exceeds_items_per_message(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await station.call(call.NotifyReport(request_id=1, generated_at=NOW, seq_no=0, report_data=[{
            "component": {"name": "MonitoringCtrlr"},
            "variable": {"name": "ItemsPerMessage", "instance": "ClearVariableMonitoring"},
            "variable_attribute": [{"type": "Actual", "value": "2", "mutability": "ReadOnly"}]}]))
        # N06.FR.04: three ids do not go in one request to a station that takes two
        too_many = await command(csms, station_id, "ClearVariableMonitoring", {"id": [1, 2, 3]})
        assert too_many.status_code == 409 and "N06.FR.04" in too_many.json()["detail"]
        await answered(csms, station_id, "ClearVariableMonitoring", {"id": [1, 2]})
        await answered(csms, station_id, "ClearVariableMonitoring", {"id": [3]})
        assert [r["id"] for r in station.got("ClearVariableMonitoring")] == [[1, 2], [3]]


async def test_tc_n_44_clear_monitoring_rejected_keeps_the_monitor(csms, station_id):
    await register_station(csms, station_id)
    answers = {"SetVariableMonitoring": accept_monitors,
               "ClearVariableMonitoring": {"clear_monitoring_result": [{"status": "Rejected", "id": 80}]}}
    async with online_201(csms, station_id, answers=answers):
        await answered(csms, station_id, "SetVariableMonitoring", {"setMonitoringData": [
            {"value": 70, "type": "UpperThreshold", "severity": 4, **EVSE_TEMPERATURE}]})
        await answered(csms, station_id, "ClearVariableMonitoring", {"id": [80]})
        assert [m["monitor_id"] for m in (await commands(csms, station_id))["monitors"]] == [80]


@pytest.mark.parametrize(("case", "log_type", "answer", "progress"), [
    ("TC_N_25", "DiagnosticsLog", "Accepted", ("Uploading", "Uploaded")),
    ("TC_N_34", "DiagnosticsLog", "Rejected", ()),
    ("TC_N_35", "SecurityLog", "Accepted", ("Uploading", "Uploaded")),
])
async def test_tc_n_25_34_35_retrieve_log_information(csms, station_id, case, log_type, answer, progress):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetLog": {"status": answer}}) as station:
        await answered(csms, station_id, "GetLog", {"requestId": 25, "logType": log_type,
                                                    "log": {"remoteLocation": "https://logs.example.com/upload"}})
        assert station.got("GetLog")[0]["log_type"] == log_type
        for status in progress:
            await station.call(call.LogStatusNotification(status=status, request_id=25))
        upload = (await commands(csms, station_id))["log_upload"]
        assert (upload["status"], upload["progress"]) == (answer, progress[-1] if progress else None)


async def test_tc_n_36_a_second_log_request_cancels_the_first(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        log = {"logType": "DiagnosticsLog", "log": {"remoteLocation": "https://logs.example.com/upload"}}
        await answered(csms, station_id, "GetLog", {"requestId": 1, **log})
        await station.call(call.LogStatusNotification(status="Uploading", request_id=1))
        station.answers["GetLog"] = {"status": "AcceptedCanceled"}
        await answered(csms, station_id, "GetLog", {"requestId": 2, **log})
        await station.call(call.LogStatusNotification(status="AcceptedCanceled", request_id=1))
        await station.call(call.LogStatusNotification(status="Uploaded", request_id=2))
        upload = (await commands(csms, station_id))["log_upload"]
        assert (upload["request_id"], upload["status"], upload["progress"]) == (2, "AcceptedCanceled", "Uploaded")


@pytest.mark.parametrize(("case", "reference", "report", "clear", "answer", "parts"), [
    ("TC_N_27", {"customerIdentifier": "CUST-27"}, True, False, "Accepted", ["visits: 3"]),
    ("TC_N_28", {"customerIdentifier": "CUST-28"}, True, False, "Accepted", ["No data"]),
    ("TC_N_29", {"customerIdentifier": "CUST-29"}, True, False, "Rejected", []),
    ("TC_N_30", {"idToken": {"idToken": "TAG30", "type": "ISO14443"}}, True, True, "Accepted", ["cleared: 1 entry"]),
    ("TC_N_31", {"idToken": {"idToken": "TAG31", "type": "ISO14443"}}, True, True, "Accepted", ["No data"]),
    ("TC_N_32", {"idToken": {"idToken": "TAG32", "type": "ISO14443"}}, False, True, "Accepted", []),
    ("TC_N_62", {"customerIdentifier": "CUST-62"}, True, True, "Accepted", ["cleared"]),
    ("TC_N_63", {"customerCertificate": {"hashAlgorithm": "SHA256", "issuerNameHash": "aa", "issuerKeyHash": "bb",
                                         "serialNumber": "0C"}}, True, True, "Accepted", ["cleared"]),
])
async def test_tc_n_27_to_32_62_63_customer_information(csms, station_id, case, reference, report, clear, answer, parts):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"CustomerInformation": {"status": answer}}) as station:
        await answered(csms, station_id, "CustomerInformation",
                       {"requestId": 27, "report": report, "clear": clear, **reference})
        [sent] = station.got("CustomerInformation")
        assert (sent["report"], sent["clear"]) == (report, clear)  # N09.FR.01
        for n, data in enumerate(parts):
            await station.call(call.NotifyCustomerInformation(data=data, seq_no=n, generated_at=NOW, request_id=27,
                                                              tbc=n < len(parts) - 1))
        [info] = (await commands(csms, station_id))["customer_information"]
        assert (info["status"], info["data"], info["complete"]) == (answer, "".join(parts), bool(parts))
    # N09.FR.04 / N10.FR.08: a customer must be named
    response = await command(csms, station_id, "CustomerInformation", {"requestId": 28, "report": True, "clear": False})
    assert response.status_code == 422 and "N09.FR.04" in response.json()["detail"]


# --- O: display messages ------------------------------------------------------------------------------------------


def display(mid: int, **extra) -> dict:
    return {"message": {"id": mid, "priority": "NormalCycle",
                        "message": {"format": "UTF8", "content": f"message {mid}"}, **extra}}


@pytest.mark.parametrize(("case", "extra"), [
    ("TC_O_01", {"state": "Idle"}), ("TC_O_13", {"startDateTime": LATER}), ("TC_O_14", {"endDateTime": LATER}),
    ("TC_O_25", {"state": "Charging"}),
])
async def test_tc_o_01_13_14_25_set_display_message(csms, station_id, case, extra):
    await register_station(csms, station_id)
    async with online_201(csms, station_id) as station:
        await answered(csms, station_id, "SetDisplayMessage", display(1, **extra))
        [sent] = station.got("SetDisplayMessage")
        assert "transaction_id" not in sent["message"]  # O01.FR.04: no transaction, no transactionId
        [kept] = (await commands(csms, station_id))["display_messages"]
        assert (kept["message_id"], kept["state"]) == (1, extra.get("state"))


async def test_tc_o_02_get_all_display_messages(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetDisplayMessages": {"status": "Accepted"}}) as station:
        await answered(csms, station_id, "GetDisplayMessages", {"requestId": 2})
        assert station.got("GetDisplayMessages") == [{"request_id": 2}]  # no id, priority, state
        await station.call(call.NotifyDisplayMessages(request_id=2, message_info=[
            {"id": 7, "priority": "InFront", "message": {"format": "ASCII", "content": "Welcome"}}]))
        found = await commands(csms, station_id)
        assert [(d["message_id"], d["content"]) for d in found["display_messages"]] == [(7, "Welcome")]
        assert found["display_message_reports"] == [{"request_id": 2, "status": "Accepted", "complete": True}]


async def test_tc_o_03_get_all_display_messages_none_configured(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetDisplayMessages": {"status": "Unknown"}}):
        await answered(csms, station_id, "SetDisplayMessage", display(3))
        assert await answered(csms, station_id, "GetDisplayMessages", {"requestId": 3}) == {"status": "Unknown"}
        assert (await commands(csms, station_id))["display_messages"] == []  # the station holds none


@pytest.mark.parametrize(("case", "answer", "kept"), [("TC_O_04", "Accepted", []), ("TC_O_05", "Unknown", [])])
async def test_tc_o_04_05_clear_display_message(csms, station_id, case, answer, kept):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"ClearDisplayMessage": {"status": answer}}) as station:
        await answered(csms, station_id, "SetDisplayMessage", display(4))
        await answered(csms, station_id, "ClearDisplayMessage", {"id": 4 if answer == "Accepted" else 5})
        assert station.got("ClearDisplayMessage")[0]["id"] in (4, 5)
        assert [d["message_id"] for d in (await commands(csms, station_id))["display_messages"]] == (
            kept if answer == "Accepted" else [4])


@pytest.mark.parametrize(("case", "extra", "answer"), [
    ("TC_O_06", {}, "Accepted"), ("TC_O_10", {}, "UnknownTransaction"),
    ("TC_O_27", {"startDateTime": LATER}, "Accepted"), ("TC_O_28", {"endDateTime": LATER}, "Accepted"),
])
async def test_tc_o_06_10_27_28_display_message_for_a_transaction(csms, station_id, case, extra, answer):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"SetDisplayMessage": {"status": answer}}) as station:
        await energy_transfer_started(station, "tx-6")
        tx = "tx-6" if answer == "Accepted" else "tx-unknown"
        assert (await answered(csms, station_id, "SetDisplayMessage", display(6, transactionId=tx, **extra)))["status"] == answer
        assert station.got("SetDisplayMessage")[0]["message"]["transaction_id"] == tx
        kept = (await commands(csms, station_id))["display_messages"]
        assert [d["transaction_id"] for d in kept] == ([tx] if answer == "Accepted" else [])


@pytest.mark.parametrize(("case", "query", "answer"), [
    ("TC_O_07", {"id": [7]}, "Accepted"), ("TC_O_08", {"priority": "InFront"}, "Accepted"),
    ("TC_O_09", {"state": "Charging"}, "Accepted"), ("TC_O_11", {"id": [999]}, "Unknown"),
])
async def test_tc_o_07_to_11_get_specific_display_messages(csms, station_id, case, query, answer):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"GetDisplayMessages": {"status": answer}}) as station:
        await answered(csms, station_id, "SetDisplayMessage", display(8))
        await answered(csms, station_id, "GetDisplayMessages", {"requestId": 7, **query})
        if answer == "Accepted":
            await station.call(call.NotifyDisplayMessages(request_id=7, message_info=[
                {"id": 7, "priority": "InFront", "state": "Charging", "message": {"format": "UTF8", "content": "x"}}]))
        # a filtered answer adds what it reports and removes nothing
        kept = sorted(d["message_id"] for d in (await commands(csms, station_id))["display_messages"])
        assert kept == ([7, 8] if answer == "Accepted" else [8])


async def test_tc_o_12_replace_display_message(csms, station_id):
    await register_station(csms, station_id)
    async with online_201(csms, station_id):
        await answered(csms, station_id, "SetDisplayMessage", display(12))
        replacement = display(12)
        replacement["message"]["message"]["content"] = "replaced"
        await answered(csms, station_id, "SetDisplayMessage", replacement)
        assert [(d["message_id"], d["content"]) for d in (await commands(csms, station_id))["display_messages"]] == [
            (12, "replaced")]


@pytest.mark.parametrize(("case", "answer"), [
    ("TC_O_17", "NotSupportedPriority"), ("TC_O_18", "NotSupportedState"), ("TC_O_19", "NotSupportedMessageFormat"),
    ("TC_O_26", "Rejected"),
])
async def test_tc_o_17_to_19_26_a_message_the_station_cannot_show_is_not_kept(csms, station_id, case, answer):
    await register_station(csms, station_id)
    async with online_201(csms, station_id, answers={"SetDisplayMessage": {"status": answer}}):
        assert (await answered(csms, station_id, "SetDisplayMessage", display(17, state="Faulted")))["status"] == answer
        assert (await commands(csms, station_id))["display_messages"] == []
