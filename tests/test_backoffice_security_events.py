"""The back office station page in a real headless Chromium: a station's security events arrive
live, station-sent text shown as text, the last critical one surfaced, signed firmware progress,
the certificates the CSMS issued it and why a request failed."""

from __future__ import annotations

import pytest
from ocpp.v16 import call
from playwright.async_api import expect

from tests.conftest import VIEWER_TOKEN, register_station
from tests.csr import csr_pem, station_key
from tests.polling import wait_until
from tests.stations import connected_station
from tests.test_backoffice import HOSTILE_VENDOR, booted, browser, shot, signed_in  # noqa: F401  (browser: fixture)
from tests.test_compliance_16 import ts, utcnow
from tests.test_compliance_16_security import SecurityStation

pytestmark = pytest.mark.ray


async def test_security_events_show_live_on_the_station_page_as_text_and_the_critical_one_on_top(
        browser, csms, station_id):  # noqa: F811
    await register_station(csms, station_id)
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    async with connected_station(csms.ws_url, station_id) as station:
        await booted(station)
        await page.goto(f"{csms.http_url}/station/{station_id}")
        await expect(page.locator("#security-events")).to_contain_text("None received.")
        await expect(page.locator("#last-critical-security-event")).to_contain_text("none")
        # Live, without reload: a non-critical event with hostile text, then a critical one.
        await station.call(call.SecurityEventNotification(type="<img src=x onerror=alert(1)>", timestamp=ts(utcnow()),
                                                          tech_info=HOSTILE_VENDOR))
        await expect(page.locator("#security-events")).to_contain_text(HOSTILE_VENDOR, timeout=10_000)
        await expect(page.locator("#security-events")).to_contain_text("<img src=x onerror=alert(1)>")
        assert await page.locator("#security-events img, #security-events script").count() == 0
        await station.call(call.SecurityEventNotification(type="TamperDetectionActivated", timestamp=ts(utcnow()),
                                                          tech_info=None))
        await expect(page.locator("#last-critical-security-event")).to_contain_text("TamperDetectionActivated",
                                                                                     timeout=10_000)
        await expect(page.locator("#security-events tbody tr").first).to_contain_text("TamperDetectionActivated")
        await expect(page.locator("#security-events tr.critical")).to_have_count(1)
        # A signed firmware update's progress shows on its request.
        await station.call(call.SignedFirmwareStatusNotification(status="Downloading", request_id=12))
        await expect(page.locator("#signed-firmware-12")).to_contain_text("Downloading", timeout=10_000)
    assert dialogs == []
    await page.context.close()


async def test_the_station_page_shows_the_certificate_we_issued_and_why_a_request_failed(
        browser, csms, station_id):  # noqa: F811
    await register_station(csms, station_id)
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    async with connected_station(csms.ws_url, station_id, station_class=SecurityStation) as station:
        await booted(station)
        # A CSR naming another station (hostile text in its CN): Rejected, and the page says why.
        refused = await station.call(call.SignCertificate(csr=csr_pem(station_key(), "<b>CP-other</b>")))
        assert refused.status == "Rejected"
        await page.goto(f"{csms.http_url}/station/{station_id}")
        await expect(page.locator("#certificate-failure")).to_contain_text("CN must be the station id")
        assert await page.locator("#certificates b").count() == 0
        # Its own CSR: signed, delivered, and shown live as its client certificate.
        accepted = await station.call(call.SignCertificate(csr=csr_pem(station_key(), station_id)))
        assert accepted.status == "Accepted"
        await wait_until(lambda: station.got("CertificateSigned"), 30, "CertificateSigned from the CSMS")
        await expect(page.locator("#client-certificate")).to_contain_text(station_id, timeout=10_000)
        await expect(page.locator("#certificates-issued")).to_contain_text("Accepted", timeout=10_000)
        await shot(page, "station-certificates")
    await page.context.close()
