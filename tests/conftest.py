"""Test harness: one real local Ray with the whole CSMS deployed, started once per test session."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TOKEN = "test-admin-token-0123456789"
OPERATOR_TOKEN = "test-operator-token-0123456789"
VIEWER_TOKEN = "test-viewer-token-0123456789"
PASSWORD = "station-password-0123"
AUTHORIZER_TOKEN = "test-authorizer-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Csms:
    config: object
    http_url: str
    ws_url: str
    token: str
    # TLS (security profiles 2 and 3) on the config's `port`; ws_url/http_url are its plain_port.
    wss_url: str = ""
    pki: object = None

    @property
    def data_root(self) -> Path:
        return self.config.data_path

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.http_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )


@pytest.fixture(scope="session")
def authorizer_server():
    """The external authorizer the session's CSMS asks about id tags it does not know."""
    from tests.authorizer_server import AuthorizerServer

    server = AuthorizerServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def october_gold(csms):
    """October's silver and gold in the session CSMS's data root, built once for every module
    that reads them: the fault report is built before another fleet joins the lake, so a second
    build in the same lake would count that fleet too."""
    from analytics import fault_report, maintenance, mass_outage
    from tests import fleet_history as fh
    from tests.test_fault_report import october_fixture

    root = csms.data_root
    october_fixture(root)
    fault_report.run(root, "2026-10")
    fh.generate(root)  # another fleet in the same lake; the fault report above was built before it
    mass_outage.run(root, fh.SCORED_DAYS, use_ray=False)
    maintenance.run(root, fh.SCORED_DAYS, use_ray=False)
    return root


@pytest.fixture(scope="session")
def csms(tmp_path_factory: pytest.TempPathFactory, authorizer_server):
    from actors.config import ApiToken, Config
    from serve_app import app
    from tests.pki import TestPki

    port = free_port()
    tls_port = free_port()
    pki = TestPki.create(tmp_path_factory.mktemp("pki"))
    config = app.resolve(Config(
        data_root=str(tmp_path_factory.mktemp("csms-data")),
        port=tls_port,
        plain_port=port,
        tls_cert_file=str(pki.server_cert),
        tls_key_file=str(pki.server_key),
        tls_client_ca_file=str(pki.ca.cert_file),
        serve_proxy_port=free_port(),
        station_hosts=2,
        api_tokens=[TOKEN, ApiToken(token=OPERATOR_TOKEN, role="operator"),
                    ApiToken(token=VIEWER_TOKEN, role="viewer")],
        gateway_replicas=2,
        api_replicas=2,
        command_timeout_s=4,
        heartbeat_interval_s=300,
        wal_segment_max_age_s=3600,
        host_retry_deadline_s=60,
        # External authorization (tests/test_authorizer.py); unknown tags get Invalid from it.
        authorizer_url=authorizer_server.url,
        authorizer_policy="free_vending",
        authorizer_deadline_s=2.0,
        authorizer_attempt_timeout_s=0.5,
        authorizer_backoff_s=0.05,
        authorizer_breaker_failures=4,
        authorizer_breaker_cooldown_s=1.0,
    ))
    # Ray's processes inherit it: the token reaches the hosts from the environment only.
    os.environ["CSMS_AUTHORIZER_TOKEN"] = AUTHORIZER_TOKEN
    app.prepare_environment(config)
    import ray

    # "local": a Ray of the test's own, never one a `ray start` left running on this machine.
    ray.init(address="local", namespace="csms", include_dashboard=False, num_cpus=4, logging_level="WARNING")
    app.start_backend(config)
    app.deploy(config)
    yield Csms(config, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ocpp", TOKEN,
               wss_url=f"wss://127.0.0.1:{tls_port}/ocpp", pki=pki)
    app.stop(config)
    ray.shutdown()


@pytest.fixture
def station_id() -> str:
    return f"CP-{uuid.uuid4().hex[:10]}"


async def register_station(csms: Csms, station_id: str, **body) -> None:
    async with csms.api() as api:
        response = await api.put(f"/api/stations/{station_id}", json={"password": PASSWORD, **body})
        assert response.status_code in (200, 201), response.text


async def put_id_tag(csms: Csms, id_tag: str, **body) -> None:
    async with csms.api() as api:
        response = await api.put(f"/api/id-tags/{id_tag}", json=body or {"status": "Accepted"})
        assert response.status_code in (200, 201), response.text
