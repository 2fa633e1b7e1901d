"""The back office in a real headless Chromium against the session's CSMS: sign-in per role, live station page, commands, paging, hostile input."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from playwright.async_api import Browser, Page, async_playwright, expect

from actors import directory
from actors.passwords import hash_password
from actors.station_state import Registration
from analytics import fault_report
from tests.conftest import OPERATOR_TOKEN, PASSWORD, TOKEN, VIEWER_TOKEN, put_id_tag, register_station
from tests.polling import wait_until
from tests.stations import TestStation, connected_station
from tests.test_fault_report import EXPECTED, october_fixture

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


async def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


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
        await page.goto(f"{csms.http_url}/station/{station_id}")
        assert await page.locator("#cmd-Reset").count() == (1 if commands_shown else 0)
        await page.goto(f"{csms.http_url}/admin/id-tags")
        assert await page.locator("#id-tag-form").count() == (1 if admin_forms else 0)
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


async def _disconnected(page: Page, csms, station_id: str) -> bool:
    return (await page.locator("#connected").inner_text()) == "not connected"


async def test_paging_through_ten_thousand_stations(browser, csms):
    """Registered straight on the hosts in one call each (the CSV import's path); ids sort after every other test's."""
    prefix = "zz-bo-page-"
    ids = [f"{prefix}{k:05d}" for k in range(10_000)]
    hosts = directory.host_names(csms.config.station_hosts)
    by_host: dict[str, list] = {}
    password_hash = hash_password(PASSWORD)
    for sid in ids:
        by_host.setdefault(directory.host_for(sid, hosts), []).append(
            (sid, Registration(password_hash=password_hash, site=f"site-{int(sid[-5:]) % 7}")))
    await asyncio.gather(*(directory.get_actor(h).import_registrations.remote(regs) for h, regs in by_host.items()))
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    await page.get_by_label("Search id or site").fill(prefix)
    await expect(page.locator("#paging-info")).to_have_text("Stations 1–50 of 10000 matching")
    await shot(page, "fleet")
    seen: list[str] = []
    started = time.monotonic()
    for number in range(200):
        await expect(page.locator("#paging-info")).to_have_text(
            f"Stations {number * 50 + 1}–{number * 50 + 50} of 10000 matching")
        seen += await page.locator("table.fleet tbody td:first-child a").all_inner_texts()
        if number < 199:
            await page.locator("#page-next").click()
    elapsed = time.monotonic() - started
    print(f"\n200 fleet pages of 50 (10,000 stations) in {elapsed:.1f} s, {elapsed / 200 * 1000:.0f} ms a page")
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
    await expect(page.get_by_role("status")).to_have_text("Imported 3 stations (3 new).")
    await shot(page, "stations-admin")
    async with csms.api() as api:
        body = (await api.get("/api/stations/BO-IMPORT-2")).json()
        assert body["site"] == "depot-import"
    # The imported password works for the station's own handshake.
    async with connected_station(csms.ws_url, "BO-IMPORT-2") as station:
        await booted(station)
    bad = tmp_path / "bad.csv"
    bad.write_text("station_id,password\nBO-IMPORT-9,short\n")
    await page.locator("#station-import input[type=file]").set_input_files(str(bad))
    await page.locator("#station-import").get_by_role("button", name="Import").click()
    await expect(page.get_by_role("alert")).to_contain_text("line 2: password must be 16-40 characters")
    await page.context.close()


async def test_reports_page_shows_the_fault_report_with_its_chart(browser, csms):
    # October's silver and gold, as tests/test_reports_api.py builds them (same files, replaced).
    october_fixture(csms.data_root)
    fault_report.run(csms.data_root, "2026-10")
    page = await signed_in(browser, csms, VIEWER_TOKEN)
    await page.goto(f"{csms.http_url}/reports?month=2026-10")
    rows = page.locator("#fault-report tbody tr")
    await expect(rows).to_have_count(len(EXPECTED))
    await expect(rows.first).to_contain_text("CP-K")
    await expect(rows.first).to_contain_text("HighTemperature 10")
    # uPlot drew the faults-per-day chart from the data attribute (static/backoffice.js).
    await expect(page.locator("#faults-chart .uplot canvas")).to_have_count(1)
    await shot(page, "reports")
    await page.goto(f"{csms.http_url}/reports?month=2001-01")
    await expect(page.get_by_text("has not been built yet")).to_be_visible()
    await page.goto(f"{csms.http_url}/reports?month=13-2001")
    await expect(page.get_by_role("alert")).to_be_visible()
    await page.context.close()
