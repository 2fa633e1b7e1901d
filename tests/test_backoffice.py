"""The back office in a real headless Chromium against the session's CSMS: sign-in per role, live station page, commands, paging, hostile input."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from ocpp.v201 import call as call201
from playwright.async_api import Browser, Page, async_playwright, expect

from analytics import catalog, gold_views
from serve_app.backoffice.pages import LIVE_POLL_S
from serve_app.backoffice.signin_limit import FAILURES_ALLOWED
from tests.conftest import OPERATOR_TOKEN, PASSWORD, TOKEN, VIEWER_TOKEN, put_id_tag, register_station
from tests.polling import wait_until
from tests.commanded_201 import CommandedStation201, boot_201
from tests.stations import TestStation, TestStation201, connected_station, raw_socket
from tests.test_fault_report import EXPECTED

pytestmark = pytest.mark.ray

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# 20 characters: the most a 1.6 BootNotification's chargePointVendor (CiString20) may hold.
HOSTILE_VENDOR = "<script>x()</script>"
# Screenshots for docs/ when asked (scripts/backoffice_screenshots.sh); tests never write the tree otherwise.
SCREENSHOTS = os.environ.get("CSMS_BACKOFFICE_SCREENSHOTS")


@pytest.fixture(scope="module")
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/bootstrap.sh --browser installs Debian's chromium")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def shot(page: Page, name: str, full_page: bool = True) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)


async def signed_in(browser: Browser, csms, token: str) -> Page:
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    await page.goto(f"{csms.http_url}/")
    await expect(page).to_have_url(f"{csms.http_url}/signin")
    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{csms.http_url}/fleet")
    return page


class CommandedStation(TestStation):
    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value):
        return call_result.ChangeConfiguration(status="Accepted")


async def booted(station, vendor: str = "ACME", model: str = "Fast-1") -> None:
    await station.call(call.BootNotification(charge_point_model=model, charge_point_vendor=vendor))
    await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))


async def test_each_role_signs_in_and_sees_what_it_may_do(browser, csms, station_id):
    await register_station(csms, station_id, site="depot-roles")
    for token, role, commands_shown, admin_forms in ((VIEWER_TOKEN, "viewer", False, False),
                                                      (OPERATOR_TOKEN, "operator", True, False),
                                                      (TOKEN, "admin", True, True)):
        page = await signed_in(browser, csms, token)
        await expect(page.locator(".role")).to_have_text(f"signed in as {role}")
        cookies = {c["name"]: c for c in await page.context.cookies()}
        session = cookies["csms_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert token not in session["value"] and token not in await page.content()
        # Only an admin is offered station management, in the menu and on a station's page.
        nav = page.get_by_role("navigation", name="Main")
        assert await nav.get_by_role("link", name="Stations").count() == (1 if admin_forms else 0)
        await page.goto(f"{csms.http_url}/station/{station_id}")
        assert await page.locator("#cmd-Reset").count() == (1 if commands_shown else 0)
        assert await page.locator("#change-registration").count() == (1 if admin_forms else 0)
        await page.goto(f"{csms.http_url}/admin/id-tags")
        assert await page.locator("#id-tag-form").count() == (1 if admin_forms else 0)
        assert await page.get_by_role("button", name="Delete").count() == 0 or admin_forms
        assert token not in await page.content()
        await page.context.close()


async def test_a_wrong_token_is_refused_and_pages_need_a_session(browser, csms):
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{csms.http_url}/station/anything")
    await expect(page).to_have_url(f"{csms.http_url}/signin")
    await page.get_by_label("Token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("That token is not valid.")
    assert not [c for c in await context.cookies() if c["name"] == "csms_session"]
    await context.close()


async def test_signing_out_ends_the_session_even_for_a_copied_cookie(browser, csms):
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    copied = [c for c in await page.context.cookies() if c["name"] == "csms_session"]
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{csms.http_url}/signin")
    other = await browser.new_context()
    await other.add_cookies(copied)
    replay = await other.new_page()
    await replay.goto(f"{csms.http_url}/fleet")
    await expect(replay).to_have_url(f"{csms.http_url}/signin")
    await other.close()
    await page.context.close()


async def _signin_over_http(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """The sign-in form as a browser posts it: the page's nonce cookie and token, then the token."""
    form = await client.get("/signin")
    signin_token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
    return await client.post("/signin", data={"signin_token": signin_token, "token": token})


async def test_failed_sign_ins_from_one_address_are_limited_without_echoing_the_token(csms):
    # From an address of its own (all of 127/8 is loopback), so the browser tests' 127.0.0.1 stays free.
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=csms.http_url, transport=transport, timeout=30) as client:
        statuses, last = [], None
        for attempt in range(30):
            last = await _signin_over_http(client, f"guess-{attempt:02d}-not-a-token")
            statuses.append(last.status_code)
            assert f"guess-{attempt:02d}" not in last.text
        # Each API replica allows FAILURES_ALLOWED failures per address in its window, then refuses.
        failures = statuses.count(401)
        assert statuses[:FAILURES_ALLOWED] == [401] * FAILURES_ALLOWED
        assert FAILURES_ALLOWED <= failures <= FAILURES_ALLOWED * csms.config.api_replicas
        assert statuses[failures:] == [429] * (30 - failures), statuses
        assert "Too many failed sign-ins from your address; try again in" in last.text
        assert 0 < int(last.headers["retry-after"]) <= 300
        # While refused, even the right token is: a guesser learns nothing from the answer.
        right = await _signin_over_http(client, VIEWER_TOKEN)
        assert right.status_code == 429 and VIEWER_TOKEN not in right.text and "csms_session" not in right.cookies
    # Another address is not affected.
    async with httpx.AsyncClient(base_url=csms.http_url, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.3"),
                                 timeout=30) as other:
        assert (await _signin_over_http(other, VIEWER_TOKEN)).status_code == 303


async def test_the_session_cookie_is_secure_over_tls_and_not_on_the_plain_port(csms):
    tls_base = csms.wss_url.replace("wss://", "https://").removesuffix("/ocpp")
    async with httpx.AsyncClient(base_url=tls_base, verify=csms.pki.client_context(), timeout=30) as over_tls:
        signed = await _signin_over_http(over_tls, VIEWER_TOKEN)
    async with httpx.AsyncClient(base_url=csms.http_url, timeout=30) as plain:
        signed_plain = await _signin_over_http(plain, VIEWER_TOKEN)
        # A client cannot claim TLS for the balancer: its own header is removed.
        claimed = await plain.get("/signin", headers={"X-CSMS-Client-Scheme": "https"})

    def session_cookie(response: httpx.Response) -> str:
        return next(h for h in response.headers.get_list("set-cookie") if h.startswith("csms_session="))

    assert signed.status_code == signed_plain.status_code == 303
    assert "; secure" in session_cookie(signed).lower() and "httponly" in session_cookie(signed).lower()
    assert "secure" not in session_cookie(signed_plain).lower()
    assert "secure" not in claimed.headers["set-cookie"].lower()


async def _session_client(page: Page, csms) -> tuple[httpx.AsyncClient, str]:
    """An HTTP client holding the page's session cookie, and the page's CSRF token."""
    cookie = next(c["value"] for c in await page.context.cookies() if c["name"] == "csms_session")
    csrf = await page.locator("form.signout input[name=csrf]").get_attribute("value")
    return httpx.AsyncClient(base_url=csms.http_url, cookies={"csms_session": cookie}, timeout=30), csrf


async def test_role_and_csrf_are_checked_on_the_server(browser, csms, station_id):
    await register_station(csms, station_id)
    viewer = await signed_in(browser, csms, VIEWER_TOKEN)
    client, csrf = await _session_client(viewer, csms)
    async with client:
        refused = await client.post(f"/station/{station_id}/command", data={"csrf": csrf, "action": "ClearCache"})
        assert refused.status_code == 403
        refused = await client.post("/admin/id-tags", data={"csrf": csrf, "id_tag": "VIEWERTAG"})
        assert refused.status_code == 403
    operator = await signed_in(browser, csms, OPERATOR_TOKEN)
    client, csrf = await _session_client(operator, csms)
    async with client:
        no_csrf = await client.post(f"/station/{station_id}/command", data={"action": "ClearCache"})
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
        other_csrf = await client.post(f"/station/{station_id}/command", data={"csrf": "x" * 43, "action": "ClearCache"})
        assert other_csrf.status_code == 403
        allowed = await client.post(f"/station/{station_id}/command", data={"csrf": csrf, "action": "ClearCache"})
        assert allowed.status_code == 200 and 'data-status="409"' in allowed.text  # not connected
        page = await client.get("/fleet")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
    await viewer.context.close()
    await operator.context.close()


async def test_station_page_shows_status_and_energy_live_and_hostile_text_as_text(browser, csms, station_id):
    await register_station(csms, station_id, site="<b>depot</b>")
    await put_id_tag(csms, "BO-LIVE-TAG")
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    async with connected_station(csms.ws_url, station_id) as station:
        await booted(station, vendor=HOSTILE_VENDOR, model="<img src=x>")
        await page.goto(f"{csms.http_url}/station/{station_id}")
        await expect(page.locator("#boot-vendor")).to_have_text(HOSTILE_VENDOR)
        await expect(page.locator("#connector-1 [data-status]")).to_have_text("Available")
        # Every script on the page is ours, from /static (CSP forbids inline ones anyway).
        sources = await page.eval_on_selector_all("script", "els => els.map(e => e.src)")
        assert sources and all(s.startswith(f"{csms.http_url}/static/") for s in sources)
        assert await page.locator("#station-live img").count() == 0
        await expect(page.get_by_text("<b>depot</b>")).to_be_visible()
        await shot(page, "station")

        # Live: the station's frame, then the page without reload (no navigation happens).
        navigations: list[str] = []
        page.on("framenavigated", lambda f: navigations.append(f.url))
        delays = []
        for status in ("Preparing", "Faulted", "Available"):
            sent = time.monotonic()
            await station.call(call.StatusNotification(connector_id=1, error_code="GroundFailure" if status == "Faulted"
                                                       else "NoError", status=status))
            await expect(page.locator("#connector-1 [data-status]")).to_have_text(status, timeout=10_000)
            delays.append(time.monotonic() - sent)
        start = await station.call(call.StartTransaction(connector_id=1, id_tag="BO-LIVE-TAG", meter_start=1000,
                                                         timestamp=datetime.now(timezone.utc).isoformat()))
        tx = start.transaction_id
        await expect(page.locator(f"#energy-{tx}")).to_have_text("—", timeout=10_000)  # no meter value yet
        sent = time.monotonic()
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "sampledValue": [{"value": "3500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        await expect(page.locator(f"#energy-{tx}")).to_have_text("2.500 kWh", timeout=10_000)
        delays.append(time.monotonic() - sent)
        assert navigations == []
        assert dialogs == []
        print(f"\nstation frame -> page delays (s): {', '.join(f'{d:.3f}' for d in delays)}")
        # The page polls the host every 0.25 s: a change shows well within a second or two.
        assert max(delays) < 3.0, delays
        await station.call(call.StopTransaction(transaction_id=tx, meter_stop=3500,
                                                timestamp=datetime.now(timezone.utc).isoformat()))
    await page.context.close()


# The page's clock and ours are the same machine's: a change is stamped in the page when it
# lands in the DOM (MutationObserver), so the figure holds no Playwright polling.
_STAMP_STATUS_CHANGES = """() => {
  window.statusChanges = [];
  new MutationObserver(() => {
    const status = document.querySelector("#connector-1 [data-status]");
    window.statusChanges.push([performance.timeOrigin + performance.now(), status && status.textContent]);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
FRAME_TO_PAGE_SAMPLES = 20


async def test_a_2_0_1_station_page_shows_its_evses_live_and_its_device_model_as_text(browser, csms, station_id):
    await register_station(csms, station_id)
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    async with connected_station(csms.ws_url, station_id, station_class=TestStation201,
                                 subprotocols=("ocpp2.0.1",)) as station:
        boot = await station.call(call201.BootNotification(
            charging_station={"model": "M201", "vendor_name": "Acme"}, reason="PowerUp"))
        assert boot.status == "Accepted"
        await station.call(call201.StatusNotification(
            timestamp="2026-11-24T10:00:00Z", connector_status="Available", evse_id=1, connector_id=1))
        await station.call(call201.NotifyReport(
            request_id=1, generated_at="2026-11-24T10:00:01Z", seq_no=0, report_data=[
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                 "variable_attribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}]},
                {"component": {"name": "<b>Vendor</b>"}, "variable": {"name": "Note"},
                 "variable_attribute": [{"type": "Actual", "value": HOSTILE_VENDOR}]}]))
        await page.goto(f"{csms.http_url}/station/{station_id}")
        await expect(page.locator("#evse-1-1 [data-status]")).to_have_text("Available")
        await expect(page.locator("#device-model")).to_contain_text("HeartbeatInterval")
        await expect(page.locator("#device-model")).to_contain_text("Actual=300 (ReadWrite)")
        await expect(page.locator("#device-model")).to_contain_text(HOSTILE_VENDOR)  # shown as text
        assert await page.locator("#device-model b").count() == 0
        # Live, without reload: the EVSE's next status.
        await station.call(call201.StatusNotification(
            timestamp="2026-11-24T10:05:00Z", connector_status="Occupied", evse_id=1, connector_id=1))
        await expect(page.locator("#evse-1-1 [data-status]")).to_have_text("Occupied", timeout=10_000)


async def test_station_frame_to_page_delay(browser, csms, station_id):
    """The delay from a station's StatusNotification leaving it to the text on an open station
    page (printed; BENCHMARKS.md). The page's live part comes over SSE from a replica that asks
    the station's host every LIVE_POLL_S."""
    await register_station(csms, station_id)
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    async with connected_station(csms.ws_url, station_id) as station:
        await booted(station)
        await page.goto(f"{csms.http_url}/station/{station_id}")
        await expect(page.locator("#connector-1 [data-status]")).to_have_text("Available")
        await page.evaluate(_STAMP_STATUS_CHANGES)
        delays_ms = []
        for k in range(FRAME_TO_PAGE_SAMPLES):
            status = ("Preparing", "Available")[k % 2]
            # Not a synchronization: a random phase against the replica's poll loop, so that the
            # samples cover it evenly instead of starting right after the previous change showed.
            await asyncio.sleep(random.uniform(0, LIVE_POLL_S))
            sent_ms = time.time() * 1000
            await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status))
            await expect(page.locator("#connector-1 [data-status]")).to_have_text(status, timeout=10_000)
            changes = await page.evaluate("window.statusChanges")
            delays_ms.append(next(at for at, shown in changes if shown == status and at >= sent_ms) - sent_ms)
    await page.context.close()
    delays_ms.sort()
    p50, p95 = delays_ms[len(delays_ms) // 2], delays_ms[int(len(delays_ms) * 0.95) - 1]
    print(f"\nstation frame -> station page over SSE, {len(delays_ms)} StatusNotifications: "
          f"min {delays_ms[0]:.0f} / p50 {p50:.0f} / p95 {p95:.0f} / max {delays_ms[-1]:.0f} ms "
          f"(page refresh every {LIVE_POLL_S * 1000:.0f} ms)")
    # Within one poll interval plus one host call and render, with room for a shared machine.
    assert delays_ms[-1] < 3_000, delays_ms


async def test_commands_from_the_station_page_show_the_answer_in_place(browser, csms, station_id):
    await register_station(csms, station_id)
    page = await signed_in(browser, csms, OPERATOR_TOKEN)
    async with connected_station(csms.ws_url, station_id, station_class=CommandedStation) as station:
        await booted(station)
        await page.goto(f"{csms.http_url}/station/{station_id}")
        form = page.locator("#cmd-ChangeConfiguration")
        await form.get_by_label("Key").fill("HeartbeatInterval")
        await form.get_by_label("Value").fill("120")
        await form.get_by_role("button").click()
        await expect(form.locator("output .result")).to_have_attribute("data-status", "200")
        await expect(form.locator("output pre")).to_contain_text('"status": "Accepted"')
        # The station has no UnlockConnector handler: its CALLERROR NotImplemented, as 502.
        unlock = page.locator("#cmd-UnlockConnector")
        await unlock.get_by_role("button").click()
        await expect(unlock.locator("output .result")).to_have_attribute("data-status", "502")
        await expect(unlock.locator("output")).to_contain_text("NotImplemented")
        any_action = page.locator("#cmd-any")
        await any_action.get_by_label("Action").select_option("Reset")
        await any_action.get_by_label("Payload").fill('{"type": "Sideways"}')
        await any_action.get_by_role("button").click()
        await expect(any_action.locator("output .result")).to_have_attribute("data-status", "422")
        await shot(page, "station-commands")
    # Disconnected now: the same form says 409.
    await wait_until(lambda: _disconnected(page, csms, station_id), 20, "the station to show as disconnected")
    await form.get_by_role("button").click()
    await expect(form.locator("output .result")).to_have_attribute("data-status", "409")
    await page.context.close()


async def test_a_2_0_1_station_page_offers_the_2_0_1_forms_and_sends_their_payloads(browser, csms, station_id):
    await register_station(csms, station_id)
    page = await signed_in(browser, csms, OPERATOR_TOKEN)
    async with connected_station(csms.ws_url, station_id, station_class=CommandedStation201,
                                 subprotocols=("ocpp2.0.1",)) as station:
        await boot_201(station)
        await page.goto(f"{csms.http_url}/station/{station_id}")
        # The 1.6 forms are not offered to a 2.0.1 station (their payloads would be refused).
        assert await page.locator("#cmd-RemoteStartTransaction").count() == 0
        reset = page.locator("#cmd-Reset")
        await reset.get_by_label("Type").select_option("Immediate")
        await reset.get_by_label("EVSE (empty: the station)").fill("1")
        await reset.get_by_role("button").click()
        await expect(reset.locator("output .result")).to_have_attribute("data-status", "200")
        assert station.got("Reset") == [{"type": "Immediate", "evse_id": 1}]
        start = page.locator("#cmd-RequestStartTransaction")
        await start.get_by_label("Id token").fill("TAG201")
        await start.get_by_label("EVSE").fill("1")
        await start.get_by_role("button").click()
        await expect(start.locator("output .result")).to_have_attribute("data-status", "200")
        (request,) = station.got("RequestStartTransaction")
        assert request["id_token"] == {"id_token": "TAG201", "type": "ISO14443"} and request["evse_id"] == 1
        assert isinstance(request["remote_start_id"], int)
        await shot(page, "station-commands-201")
    await page.context.close()


async def _disconnected(page: Page, csms, station_id: str) -> bool:
    return (await page.locator("#connected").inner_text()) == "not connected"


async def test_paging_through_ten_thousand_stations(browser, csms):
    """Registered in one bulk request (the CSV import's path); ids sort after every other test's."""
    prefix = "zz-bo-page-"
    ids = [f"{prefix}{k:05d}" for k in range(10_000)]
    async with csms.api() as api:
        registered = await api.post("/api/bulk/stations", json=[
            {"station_id": sid, "password": PASSWORD, "site": f"site-{int(sid[-5:]) % 7}"} for sid in ids])
    assert registered.status_code == 200, registered.text
    assert registered.json()["rows"] == 10_000
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    await page.get_by_label("Search id or site").fill(prefix)
    await expect(page.locator("#paging-info")).to_have_text("Stations 1–50 of 10000 matching")
    await shot(page, "fleet")
    seen: list[str] = []
    # Each click on "next" asks for that page only (the search box losing focus used to send
    # page 1 again, and whichever answer came last was shown).
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/fleet?" in r.url else None)
    started = time.monotonic()
    for number in range(200):
        await expect(page.locator("#paging-info")).to_have_text(
            f"Stations {number * 50 + 1}–{number * 50 + 50} of 10000 matching")
        seen += await page.locator("table.fleet tbody td:first-child a").all_inner_texts()
        if number < 199:
            await page.locator("#page-next").click()
    elapsed = time.monotonic() - started
    print(f"\n200 fleet pages of 50 (10,000 stations) in {elapsed:.1f} s, {elapsed / 200 * 1000:.0f} ms a page")
    assert len(asked) == 199 and all("after=" in url for url in asked), asked[:3]
    assert seen == ids
    assert await page.locator("#page-next").count() == 0
    await page.locator("#page-previous").click()
    await expect(page.locator("#paging-info")).to_have_text("Stations 9901–9950 of 10000 matching")
    # Search narrows server side; the URL keeps the filters (shareable, no token in it).
    await page.get_by_label("Search id or site").fill(f"{prefix}0424")
    await expect(page.locator("#paging-info")).to_have_text("Stations 1–10 of 10 matching")
    assert "token" not in page.url
    # The server's part of a page (both hosts scanned, merged, rendered), without the browser.
    client, _ = await _session_client(page, csms)
    async with client:
        took = []
        for after in ids[::500]:
            sent = time.monotonic()
            response = await client.get("/fleet", params={"search": prefix, "after": after}, headers={"HX-Request": "true"})
            took.append(time.monotonic() - sent)
            assert response.status_code == 200 and "table class=\"fleet\"" in response.text
    took.sort()
    print(f"fleet list request over {len(ids)} + others' stations: median {took[len(took) // 2] * 1000:.0f} ms, "
          f"max {took[-1] * 1000:.0f} ms")
    await page.context.close()


async def test_transactions_page_filters_and_exports_csv(browser, csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, "BO-TX-TAG")
    async with connected_station(csms.ws_url, station_id) as station:
        await booted(station)
        start = await station.call(call.StartTransaction(connector_id=1, id_tag="BO-TX-TAG", meter_start=500,
                                                         timestamp=datetime.now(timezone.utc).isoformat()))
        await station.call(call.StopTransaction(transaction_id=start.transaction_id, meter_stop=2000,
                                                timestamp=datetime.now(timezone.utc).isoformat()))
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    await page.goto(f"{csms.http_url}/transactions")
    await page.get_by_label("Station").fill(station_id)
    await page.get_by_label("Active").select_option("no")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#tx-summary")).to_contain_text("1 transactions, 1.500 kWh in all")
    await shot(page, "transactions")
    async with page.expect_download() as download_info:
        await page.locator("#csv-export").click()
    download = await download_info.value
    text = Path(await download.path()).read_text()
    header, row = text.splitlines()[:2]
    assert header.startswith("station_id,transaction_id,connector_id,id_tag")
    assert row.startswith(f"{station_id},{start.transaction_id},1,BO-TX-TAG") and ",500,2000,1500," in row
    await page.context.close()


async def test_transactions_page_says_how_a_stale_transaction_was_settled(browser, csms, station_id):
    await register_station(csms, station_id)
    await put_id_tag(csms, "BO-STALE-TAG")
    async with connected_station(csms.ws_url, station_id) as station:
        await booted(station)
        for minute in (0, 30):  # the first start's stop never came
            await station.call(call.StartTransaction(connector_id=1, id_tag="BO-STALE-TAG", meter_start=100,
                                                     timestamp=f"2026-11-24T10:{minute:02d}:00Z"))
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    await page.goto(f"{csms.http_url}/transactions?station_id={station_id}&active=no")
    await expect(page.locator("table.transactions td.ended")).to_have_text("csms (Superseded), meter stop estimated")
    async with page.expect_download() as download_info:
        await page.locator("#csv-export").click()
    header, row = Path(await (await download_info.value).path()).read_text().splitlines()[:2]
    assert header.endswith(",ended_by,settled_reason,meter_stop_estimated")
    assert row.endswith(",csms,Superseded,True")
    await page.context.close()


async def test_admin_manages_id_tags_and_imports_stations_from_csv(browser, csms, tmp_path):
    page = await signed_in(browser, csms, TOKEN)
    await page.goto(f"{csms.http_url}/admin/id-tags")
    form = page.locator("#id-tag-form")
    await form.get_by_label("Id tag", exact=True).fill("bo-admin-tag")
    await form.get_by_role("button", name="Save").click()
    row = page.locator("#id-tags tr", has_text="BO-ADMIN-TAG")
    await expect(row).to_contain_text("Accepted")
    await row.get_by_role("button", name="Block").click()
    await expect(page.locator("#id-tags tr", has_text="BO-ADMIN-TAG")).to_contain_text("Blocked")
    await shot(page, "id-tags")
    async with csms.api() as api:
        assert (await api.get("/api/id-tags/BO-ADMIN-TAG")).json()["status"] == "Blocked"
    await page.locator("#id-tags tr", has_text="BO-ADMIN-TAG").get_by_role("button", name="Delete").click()
    await expect(page.locator("#id-tags tr", has_text="BO-ADMIN-TAG")).to_have_count(0)

    csv_file = tmp_path / "stations.csv"
    csv_file.write_text("station_id,password,site\n" + "".join(f"BO-IMPORT-{k},{PASSWORD},depot-import\n" for k in range(3)))
    await page.goto(f"{csms.http_url}/admin/stations")
    await page.locator("#station-import input[type=file]").set_input_files(str(csv_file))
    await page.locator("#station-import").get_by_role("button", name="Import").click()
    await expect(page.get_by_role("status")).to_have_text("Imported 3 stations (3 new, 0 updated, 0 unchanged).")
    await shot(page, "stations-admin")
    async with csms.api() as api:
        body = (await api.get("/api/stations/BO-IMPORT-2")).json()
        assert body["site"] == "depot-import"
    # The imported password works for the station's own handshake.
    async with connected_station(csms.ws_url, "BO-IMPORT-2") as station:
        await booted(station)
    # The bulk path is idempotent: the same file again changes nothing.
    await page.locator("#station-import input[type=file]").set_input_files(str(csv_file))
    await page.locator("#station-import").get_by_role("button", name="Import").click()
    await expect(page.get_by_role("status")).to_have_text("Imported 3 stations (0 new, 0 updated, 3 unchanged).")
    # The API's per-row errors, on the page; none of the file is applied.
    bad = tmp_path / "bad.csv"
    bad.write_text(f"station_id,password\nBO-IMPORT-8,{PASSWORD}\nBO-IMPORT-9,short-secret\nhas space,{PASSWORD}\n")
    await page.locator("#station-import input[type=file]").set_input_files(str(bad))
    await page.locator("#station-import").get_by_role("button", name="Import").click()
    errors = page.get_by_role("alert").locator("li")
    await expect(errors).to_have_text(["2 of 3 rows invalid; nothing was applied",
                                       "row 2 (BO-IMPORT-9): Expected `str` of length >= 16 - at `$.password`",
                                       r"row 3 (has space): Expected `str` matching regex "
                                       r"'^[A-Za-z0-9._\\-:*+|@]{1,48}$' - at `$.station_id`"])
    assert "short-secret" not in await page.content()
    async with csms.api() as api:
        assert (await api.get("/api/stations/BO-IMPORT-8")).status_code == 404
    await page.context.close()


async def test_admin_imports_id_tags_from_csv_with_the_api_rules(browser, csms, tmp_path):
    page = await signed_in(browser, csms, TOKEN)
    await page.goto(f"{csms.http_url}/admin/id-tags")
    tags = tmp_path / "tags.csv"
    tags.write_text("id_tag,status,expiry_date,parent_id_tag\nbo-csv-a,Accepted,2030-01-31T12:00:00Z,\n"
                    "BO-CSV-B,Blocked,,BO-CSV-A\n")
    await page.locator("#id-tag-import input[type=file]").set_input_files(str(tags))
    await page.locator("#id-tag-import").get_by_role("button", name="Import").click()
    await expect(page.get_by_role("status")).to_have_text("Imported 2 id tags (2 new, 0 updated, 0 unchanged).")
    await expect(page.locator('#id-tags tr[data-id-tag="BO-CSV-B"]')).to_contain_text("Blocked")
    async with csms.api() as api:
        a = (await api.get("/api/id-tags/BO-CSV-A")).json()
    assert a["status"] == "Accepted" and a["expiry_date"].startswith("2030-01-31T12:00:00")
    # Blocking from the page keeps the tag's expiry to the microsecond (not the day's end).
    await page.locator('#id-tags tr[data-id-tag="BO-CSV-A"]').get_by_role("button", name="Block").click()
    await expect(page.locator('#id-tags tr[data-id-tag="BO-CSV-A"]')).to_contain_text("Blocked")
    async with csms.api() as api:
        assert (await api.get("/api/id-tags/BO-CSV-A")).json()["expiry_date"] == a["expiry_date"]
    # A tag twice (case-insensitive, as the API) and a tag too long: each row named, nothing applied.
    bad = tmp_path / "bad-tags.csv"
    bad.write_text("id_tag\nBO-CSV-NEW\nbo-csv-new\n" + "X" * 21 + "\n")
    await page.locator("#id-tag-import input[type=file]").set_input_files(str(bad))
    await page.locator("#id-tag-import").get_by_role("button", name="Import").click()
    errors = page.get_by_role("alert").locator("li")
    await expect(errors).to_have_text(["2 of 3 rows invalid; nothing was applied",
                                       "row 2 (bo-csv-new): id_tag already in row 1",
                                       f"row 3 ({'X' * 21}): Expected `str` of length <= 20 - at `$.id_tag`"])
    await expect(page.locator('#id-tags tr[data-id-tag="BO-CSV-NEW"]')).to_have_count(0)
    await page.context.close()


async def test_admin_registers_a_station_with_its_password_changes_it_and_deregisters_it(browser, csms):
    station_id, password, new_password = "BO-REG-1", "first-machine-secret-01", "second-machine-secret-2"
    page = await signed_in(browser, csms, TOKEN)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Stations").click()
    form = page.locator("#station-form")
    await form.get_by_label("Station id").fill(station_id)
    await form.get_by_label("Password").fill(password)
    await form.get_by_label("Site").fill("depot-reg")
    await form.get_by_label("Boot answer").select_option("Pending")
    await form.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text(f"Registered station {station_id}.")
    async with raw_socket(csms.ws_url, station_id, password=password) as ws:
        assert ws.subprotocol == "ocpp1.6"
    async with csms.api() as api:
        # Metadata set by the API survives a change made in the page.
        body = (await api.get(f"/api/stations/{station_id}")).json()
        assert (body["site"], body["registration_boot_status"]) == ("depot-reg", "Pending")
        assert (await api.post("/api/bulk/stations", json=[{"station_id": station_id, "password": password,
                                                             "site": "depot-reg", "boot_status": "Pending",
                                                             "metadata": {"bay": "7"}}])).status_code == 200
    # From the station's page to its registration, filled in but for the password.
    await page.goto(f"{csms.http_url}/station/{station_id}")
    await page.locator("#change-registration").click()
    form = page.locator("#station-form")
    await expect(form.get_by_label("Station id")).to_have_value(station_id)
    await expect(form.get_by_label("Site")).to_have_value("depot-reg")
    await expect(form.get_by_label("Boot answer")).to_have_value("Pending")
    await expect(form.get_by_label("Password")).to_have_value("")
    await expect(form.get_by_label("Metadata bay")).to_have_value("7")
    await form.get_by_label("Password").fill(new_password)
    await form.get_by_label("Boot answer").select_option("Accepted")
    await form.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text(f"Updated station {station_id}.")
    async with csms.api() as api:
        body = (await api.get(f"/api/stations/{station_id}")).json()
    assert (body["registration_boot_status"], body["metadata"]) == ("Accepted", {"bay": "7"})
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with raw_socket(csms.ws_url, station_id, password=password):
            pass
    assert refused.value.response.status_code == 401
    async with raw_socket(csms.ws_url, station_id, password=new_password) as ws:
        assert ws.subprotocol == "ocpp1.6"
    # A password too short: the API's message, nothing changed.
    await form.get_by_label("Station id").fill("BO-REG-2")
    await form.get_by_label("Password").evaluate("el => el.removeAttribute('minlength')")
    await form.get_by_label("Password").fill("too-short")
    await form.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert").locator("li")).to_have_text([
        "1 of 1 rows invalid; nothing was applied", "row 1 (BO-REG-2): Expected `str` of length >= 16 - at `$.password`"])
    deregister = page.locator("#station-delete")
    await deregister.get_by_label("Station id").fill(station_id)
    await deregister.get_by_role("button", name="Deregister").click()
    await expect(page.get_by_role("status")).to_have_text(f"Deregistered station {station_id}.")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with raw_socket(csms.ws_url, station_id, password=new_password):
            pass
    assert refused.value.response.status_code == 404
    await page.context.close()


async def test_admin_edits_an_id_tag_in_its_filled_in_form_and_unblocks_it(browser, csms):
    await put_id_tag(csms, "BO-EDIT-TAG", status="Accepted", expiry_date="2031-05-06T23:59:59.999999Z")
    page = await signed_in(browser, csms, TOKEN)
    await page.goto(f"{csms.http_url}/admin/id-tags")
    await page.get_by_role("link", name="Edit BO-EDIT-TAG").click()
    form = page.locator("#id-tag-form")
    await expect(form.get_by_label("Id tag", exact=True)).to_have_value("BO-EDIT-TAG")
    await expect(form.get_by_label("Status")).to_have_value("Accepted")
    await expect(form.get_by_label("Expires")).to_have_value("2031-05-06")
    await form.get_by_label("Status").select_option("Blocked")
    await form.get_by_label("Parent id tag").fill("BO-PARENT")
    await form.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Updated id tag BO-EDIT-TAG.")
    row = page.locator('#id-tags tr[data-id-tag="BO-EDIT-TAG"]')
    await expect(row).to_contain_text("Blocked")
    await expect(row).to_contain_text("BO-PARENT")
    await row.get_by_role("button", name="Unblock").click()
    await expect(page.locator('#id-tags tr[data-id-tag="BO-EDIT-TAG"]')).to_contain_text("Accepted")
    async with csms.api() as api:
        tag = (await api.get("/api/id-tags/BO-EDIT-TAG")).json()
    assert (tag["status"], tag["parent_id_tag"], tag["expiry_date"][:19]) == ("Accepted", "BO-PARENT", "2031-05-06T23:59:59")
    await page.context.close()


# Every visible form control, with no accessible name (a <label>, aria-label or aria-labelledby).
_UNLABELLED = """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
  .filter(el => el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                && !el.getAttribute("aria-labelledby") && !(el.tagName === "BUTTON" && el.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 120))"""
# Wider than the viewport: the page scrolls sideways (a tablet must not need to). Not with
# Playwright's is_mobile, which zooms out to fit any width (and so always gives 0).
_OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


async def _admin_pages(csms, station_id: str) -> list[str]:
    return ["/fleet", f"/station/{station_id}", "/transactions", "/admin/id-tags", "/admin/stations",
            "/reports?month=2026-10", "/catalog"]


async def test_every_page_is_labelled_and_usable_by_keyboard(browser, csms, station_id):
    await register_station(csms, station_id, site="depot-keys")
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    # Sign in without a mouse: the token field has the focus, Enter submits.
    await page.goto(f"{csms.http_url}/signin")
    await expect(page.get_by_label("Token")).to_be_focused()
    await page.keyboard.type(TOKEN)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{csms.http_url}/fleet")
    # Tab reaches the menu in order; Enter follows a link.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="CSMS back office")).to_be_focused()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Transactions")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{csms.http_url}/transactions")
    # Searching the fleet from the keyboard narrows the list (server side).
    await page.goto(f"{csms.http_url}/fleet")
    await page.get_by_label("Search id or site").focus()
    await page.keyboard.type(station_id)
    await expect(page.locator("#paging-info")).to_have_text("Stations 1–1 of 1 matching")
    for path in await _admin_pages(csms, station_id):
        await page.goto(f"{csms.http_url}{path}")
        assert await page.evaluate(_UNLABELLED) == [], path
    await context.close()


async def test_pages_fit_a_tablet_without_scrolling_sideways(browser, csms, station_id):
    await register_station(csms, station_id, site="depot-tablet")
    context = await browser.new_context(viewport={"width": 768, "height": 1024}, has_touch=True)
    page = await context.new_page()
    await page.goto(f"{csms.http_url}/signin")
    await page.get_by_label("Token").fill(TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{csms.http_url}/fleet")
    async with connected_station(csms.ws_url, station_id) as station:
        await booted(station)
        overflow = {}
        for path in await _admin_pages(csms, station_id):
            await page.goto(f"{csms.http_url}{path}")
            overflow[path] = await page.evaluate(_OVERFLOW)
        assert [path for path, px in overflow.items() if px > 0] == [], overflow
        await page.goto(f"{csms.http_url}/fleet?search={station_id[:3]}")
        await shot(page, "fleet-tablet")
        await page.goto(f"{csms.http_url}/station/{station_id}")
        await expect(page.locator("#connector-1 [data-status]")).to_have_text("Available")
        await shot(page, "station-tablet")
    await context.close()


async def test_reports_page_shows_the_fault_report_faults_per_day_and_anomalies_of_a_day(browser, csms, october_gold):
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    await page.goto(f"{csms.http_url}/reports?month=2026-10&day=2026-10-16")
    rows = page.locator("#fault-report tbody tr")
    await expect(rows).to_have_count(len(EXPECTED))
    await expect(rows.first).to_contain_text("CP-K")
    await expect(rows.first).to_contain_text("HighTemperature 10")
    # The e-mail's chart: a bar per ranked station, longest for the most faults.
    bars = page.locator("#fault-bars tbody tr")
    await expect(bars).to_have_count(len(EXPECTED))
    assert await bars.first.locator("meter").get_attribute("value") == "10"
    assert await bars.first.locator("meter").get_attribute("max") == "10"
    # Faults per day of the whole fleet: uPlot drew it (static/backoffice.js), and a table has the numbers.
    await expect(page.locator("#faults-chart .uplot canvas")).to_have_count(1)
    await shot(page, "reports")
    per_day = gold_views.faults_per_day(october_gold, "2026-10")
    await page.get_by_text("As a table").click()
    shown = await page.locator("#faults-per-day tbody tr").all_inner_texts()
    assert shown == [f"{d}\t{n}" for d, n in zip(per_day["days"], per_day["faults"])] and len(shown) == 31
    # The anomalies of the day asked for.
    await expect(page.locator("#outages-h")).to_have_text("Mass outages on 2026-10-16")
    outage = page.locator("#mass-outages tbody tr", has_text="site-1")
    await expect(outage).to_contain_text("2026-10-16 10:00:00 UTC")
    await expect(page.locator("#risk-h")).to_have_text("Maintenance risk on 2026-10-16")
    await expect(page.locator("#maintenance tbody tr").first).to_contain_text("CP-0-05")
    # Another day by the form (keyboard only), then the default: the latest scored day.
    await page.get_by_label("Anomalies of the day").fill("2026-10-17")
    await page.get_by_label("Anomalies of the day").press("Enter")
    await expect(page.locator("#risk-h")).to_have_text("Maintenance risk on 2026-10-17")
    assert "day=2026-10-17" in page.url
    await page.goto(f"{csms.http_url}/reports?month=2026-10")
    await expect(page.locator("#risk-h")).to_contain_text("Maintenance risk on 2026-10-2")
    await page.goto(f"{csms.http_url}/reports?month=2001-01")
    await expect(page.get_by_text("has not been built yet")).to_be_visible()
    for query in ("month=13-2001", "month=2026-10&day=2026-10-32"):
        await page.goto(f"{csms.http_url}/reports?{query}")
        await expect(page.get_by_role("alert")).to_be_visible()
    await page.context.close()


async def test_the_data_catalog_page_shows_each_tables_columns_and_freshness(browser, csms, october_gold):
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    await page.get_by_role("link", name="Data catalog").click()
    await expect(page).to_have_url(f"{csms.http_url}/catalog")
    known = catalog.catalog(october_gold)
    summary = page.locator("#catalog-summary tbody tr")
    await expect(summary).to_have_count(len(known["tables"]))
    report = page.locator('#catalog-summary tr[data-table="gold.fault_report"]')
    await expect(report).to_contain_text("one station with >= 5 Faulted statuses in a single UTC day of the month")
    assert int((await report.locator(".rows").inner_text()).replace(",", "")) > 0
    status_rows = await page.locator('#catalog-summary tr[data-table="silver.status_changes"] .rows').inner_text()
    assert int(status_rows.replace(",", "")) > 0
    section = page.locator('[id="t-gold.fault_report"]')
    await expect(section).to_contain_text("gold/fault_report/month=YYYY-MM")
    await section.get_by_text("columns").click()
    columns = section.locator("table.columns tbody tr")
    await expect(columns).to_have_count(len(next(t for t in known["tables"] if t["id"] == "gold.fault_report")["columns"]))
    await expect(columns.nth(1)).to_contain_text("1 = most Faulted statuses in the month")
    await shot(page, "catalog", full_page=False)  # the whole catalog is a long page
    await page.context.close()
