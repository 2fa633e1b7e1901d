"""What GET /api/stations/{id} shows of the 2.0.1 commands' state (actors/command_views_201.py, in the
station view's `v201.commands`): everything kept, nothing secret, nothing the station no longer holds."""

from __future__ import annotations

import msgspec

from actors.views import station_view
from tests.commands201 import Station, ts
from tests.test_ocpp201_firmware_logs import get_log, update
from tests.test_ocpp201_provisioning_more import SECRET_PROFILE, SECRETS
from tests.test_ocpp201_smart_charging import ACCEPTED, profile, tx_profile


def test_the_station_view_shows_what_commands_set_without_secrets():
    station = Station()
    station.start_transaction()
    station.command("SetChargingProfile", profile(1, evse=1), ACCEPTED)
    station.command("SetChargingProfile", profile(2, "ChargingStationMaxProfile", evse=0), ACCEPTED)
    station.command("SetChargingProfile", tx_profile(5), ACCEPTED)
    station.command("UpdateFirmware", update(3), {"status": "Accepted"})
    station.command("GetLog", get_log(4), {"status": "Accepted", "filename": "a.zip"})
    station.command("SetNetworkProfile", SECRET_PROFILE, {"status": "Accepted"})
    station.command("SetDisplayMessage", {"message": {"id": 1, "priority": "InFront",
                                                      "message": {"format": "ASCII", "content": "Hi"}}}, ACCEPTED)
    station.command("CostUpdated", {"totalCost": 4.5, "transactionId": "tx-1"}, {})
    view = station_view(station.state, now_us=station.clock_us).v201.commands
    assert [(p.evse_id, p.profile_id) for p in view.charging_profiles] == [(0, 2), (1, 1), (1, 5)]
    assert (view.firmware_update.status, view.firmware_update.signed) == ("Accepted", True)
    assert view.log_upload.filename == "a.zip"
    assert [(n.slot, n.security_profile) for n in view.network_profiles] == [(2, 2)]
    assert [(d.message_id, d.content) for d in view.display_messages] == [(1, "Hi")]
    assert [(c.transaction_id, c.total_cost) for c in view.costs] == [("tx-1", 4.5)]
    text = msgspec.json.encode(station_view(station.state, now_us=station.clock_us)).decode()
    assert not any(secret in text for secret in (*SECRETS, "s3cr3t-pw", "fwuser", "abc123"))


def test_a_tx_profile_of_an_ended_transaction_and_an_expired_profile_are_not_shown():
    station = Station()
    station.start_transaction()
    station.command("SetChargingProfile", tx_profile(5), ACCEPTED)
    station.command("SetChargingProfile", profile(1, validTo=ts(1)), ACCEPTED)
    station.end_transaction()
    view = station_view(station.state, now_us=station.clock_us + 120_000_000).v201.commands
    assert view.charging_profiles == []
