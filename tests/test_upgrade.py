"""Operators who upgrade keep their stations: a host restores a data root an older CSMS wrote.

tests/data/upgrade-v1 was written by the code before the version seam (issue 10; how:
tests/data/make_upgrade_fixture.py): a snapshot plus WAL segments it does not cover.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from actors.host_protocol import Connect, Frame, decode_replies, encode_requests
from actors.views import TransactionFilter
from tests.local_host import close, local_host

FIXTURE = Path(__file__).parent / "data" / "upgrade-v1"


@pytest.fixture
async def restored(tmp_path: Path):
    shutil.copytree(FIXTURE, tmp_path / "root")
    host = local_host(tmp_path / "root")
    yield host
    close(host)


def _subset(expected, actual, path="") -> None:
    """Every field the old API showed is still there with the same value (new fields may appear)."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing"
            _subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(expected) == len(actual), f"{path}: {actual}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _subset(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: {expected!r} != {actual!r}"


async def test_a_host_restores_an_old_data_root_with_the_state_it_had(restored):
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert restored.log.last_seq > 21, "the fixture must hold events past its snapshot"
    assert {s.state.ocpp_version for s in restored.sessions.values()} == {"1.6"}  # old snapshots: 1.6
    for station_id, view in expected["stations"].items():
        _subset(view, msgspec.to_builtins(await restored.station(station_id)), station_id)
    transactions = sorted(msgspec.to_builtins(await restored.transactions(TransactionFilter())),
                          key=lambda t: t["transaction_id"])
    _subset(expected["transactions"], transactions, "transactions")


async def test_a_restored_station_carries_on_where_it_was(restored):
    connect = Connect("CP-UP-1", "after-1", 1_800_000_000_000_000, b"upgrade-fixture-password")
    [reply] = decode_replies(await restored.process(encode_requests([connect]))).replies
    assert reply.connect_status == "accepted"  # the password hash survived

    async def call(frame: list) -> list:
        request = Frame("CP-UP-1", "after-1", 1_800_000_000_000_000, json.dumps(frame), 1_800_000_000_000_001)
        [answer] = decode_replies(await restored.process(encode_requests([request]))).replies
        return json.loads(answer.replies[0])

    # The open transaction's StartTransaction, resent: the same id (the per-version part survived).
    again = await call([2, "t2-again", "StartTransaction", {
        "connectorId": 1, "idTag": "TAG-2", "meterStart": 9000, "timestamp": "2026-10-01T10:00:00Z"}])
    assert again[2]["transactionId"] == 2
    fresh = await call([2, "t3", "StartTransaction", {
        "connectorId": 2, "idTag": "TAG-1", "meterStart": 0, "timestamp": "2026-10-02T10:00:00Z"}])
    assert fresh[2]["transactionId"] == 3
