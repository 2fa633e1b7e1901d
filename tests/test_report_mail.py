"""The fault report e-mail, received by a real local SMTP server (aiosmtpd), plain and over TLS."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import logging
import socket
import threading
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from actors.config import Config
from analytics import fault_report, report_mail
from analytics.report_mail import ReportMailError
from tests.conftest import free_port
from tests.silver_rows import status, write_status_changes
from tests.test_fault_report import EXPECTED, october_fixture

SECRET = "smtp-secret-password-42"


class Inbox:
    """An aiosmtpd handler that keeps what it accepted; `refuse` answers DATA with a code first."""

    def __init__(self, refuse: list[str] | None = None) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = list(refuse or [])
        self.data_commands = 0

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        if self.refuse:
            return self.refuse.pop(0)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"reports" and auth_data.password == SECRET.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture
def built_october(tmp_path):
    october_fixture(tmp_path)
    report = fault_report.run(tmp_path, "2026-10")
    return tmp_path, report, fault_report.report_dir(tmp_path, "2026-10") / "report.csv"


@pytest.fixture
def smtp_server():
    started: list[Controller] = []

    def start(inbox: Inbox, **kwargs) -> int:
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def config(port: int, **kw) -> Config:
    return Config(smtp_host=kw.pop("host", "127.0.0.1"), smtp_port=port, smtp_tls=kw.pop("tls", "none"),
                  smtp_sender="csms@example.org", report_recipients=["maint@example.org", "boss@example.org"],
                  smtp_timeout_s=5, **kw)


class Tables(HTMLParser):
    """Rows of text cells of the tables with an id, and the bar widths of the chart."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.bar_widths: list[str] = []
        self._stack: list[str | None] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._stack.append(attrs.get("id"))
            if attrs.get("class") == "bar":
                self.bar_widths.append(attrs["width"])
        elif tag == "tr" and self._stack and self._stack[-1]:
            self.tables.setdefault(self._stack[-1], []).append([])
        elif tag in ("td", "th") and self._stack and self._stack[-1]:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._stack.pop()
        elif tag in ("td", "th") and self._cell is not None and self._stack and self._stack[-1]:
            self.tables[self._stack[-1]][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(raw: bytes):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    attachments = list(message.iter_attachments())
    tables = Tables()
    tables.feed(html)
    return message, html, text, attachments, tables


def test_report_mail_is_received_with_table_chart_text_and_csv(built_october, smtp_server):
    root, report, csv_path = built_october
    inbox = Inbox()
    port = smtp_server(inbox)
    report_mail.send_report(config(port), "2026-10", report, csv_path)

    assert len(inbox.messages) == 1
    mail_from, rcpt_tos, raw = inbox.messages[0]
    assert mail_from == "csms@example.org" and rcpt_tos == ["maint@example.org", "boss@example.org"]
    message, html, text, attachments, tables = parse(raw)
    assert message["Subject"] == "Fault report 2026-10: 5 stations with >= 5 faults in a day"
    rows = tables.tables["fault-report"]
    assert rows[0][:4] == ["Rank", "Station", "Site", "Faults in month"]
    assert [r[:7] for r in rows[1:]] == [
        [str(rank), sid, site or "-", str(n), worst, str(worst_n), str(days)]
        for rank, sid, site, n, worst, worst_n, days, _, _ in EXPECTED
    ]
    assert rows[2][7] == "OtherError 5, GroundFailure 2" and rows[2][8] == "12: 5, 13: 2"
    # The chart: one bar per station, the worst at full width, the others in proportion.
    assert [r[0] for r in tables.tables["fault-chart"]] == [e[1] for e in EXPECTED]
    assert tables.bar_widths == ["100%", "70%", "60%", "60%", "60%"]
    assert "CP-K" in text and "HighTemperature 10" in text and "faults per day of the month: 15: 5, 16: 5" in text
    (attachment,) = attachments
    assert attachment.get_filename() == "fault-report-2026-10.csv"
    assert attachment.get_content_type() == "text/csv"
    received = attachment.get_payload(decode=True)
    assert received == csv_path.read_bytes()
    assert pl.read_csv(received)["station_id"].to_list() == [e[1] for e in EXPECTED]


class CellStyles(HTMLParser):
    """Per row of the fault-report table: each cell's style and the texts of its nowrap spans."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, list[str]]]] = []
        self._in_table = False
        self._span: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._in_table = attrs.get("id") == "fault-report"
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self.rows[-1].append((attrs.get("style", ""), []))
        elif self._in_table and tag == "span" and "white-space:nowrap" in attrs.get("style", ""):
            self._span = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "span" and self._span is not None:
            self.rows[-1][-1][1].append("".join(self._span))
            self._span = None

    def handle_data(self, data):
        if self._span is not None:
            self._span.append(data)


def test_the_mail_names_the_faulted_connectors_and_recovery_and_keeps_dates_ids_and_sites_whole(built_october):
    root, _, csv_path = built_october
    write_status_changes(root, [status("CP-K", "2026-11-02T08:00:00", "Available", "NoError")])  # CP-K recovered
    report = fault_report.run(root, "2026-10")
    message = report_mail.compose("2026-10", report, csv_path, "csms@example.org", ["maint@example.org"])
    _, html, text, _, tables = parse(message.as_bytes())
    rows = tables.tables["fault-report"]
    assert rows[0][9:] == ["Faulted connectors (faults)", "Now"]
    by_station = {r[1]: r for r in rows[1:]}
    assert by_station["CP-A"][9:] == ["1 (4), 2 (2)", "still faulted: 1, 2"]
    assert by_station["CP-K"][9:] == ["1 (10)", "recovered"]
    assert "faulted connectors (faults): 1 (4), 2 (2); now still faulted: 1, 2" in text
    styles = CellStyles()
    styles.feed(html)
    for row in styles.rows[1:]:
        # Rank to days over the threshold, and Now: whole cells; the lists break only between items.
        for style, _ in [*row[:7], row[10]]:
            assert "white-space:nowrap" in style
        codes, per_day, connectors = row[7][1], row[8][1], row[9][1]
        assert codes and per_day and connectors
    cp_i = styles.rows[2]  # rank 2
    assert cp_i[8][1] == ["12: 5", "13: 2"] and cp_i[7][1] == ["OtherError 5", "GroundFailure 2"]


def test_an_empty_month_still_sends_a_short_mail(tmp_path, smtp_server):
    report = fault_report.run(tmp_path, "2026-08")
    inbox = Inbox()
    port = smtp_server(inbox)
    report_mail.send_report(config(port), "2026-08", report, fault_report.report_dir(tmp_path, "2026-08") / "report.csv")
    message, html, text, attachments, tables = parse(inbox.messages[0][2])
    assert message["Subject"] == "Fault report 2026-08: no station crossed the threshold"
    assert "No station crossed the threshold in 2026-08" in text
    assert "No station crossed the threshold" in html and "fault-report" not in tables.tables
    assert len(attachments) == 1


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_with_login_delivers_and_never_logs_the_password(built_october, smtp_server, tmp_path, caplog):
    import ssl

    _, report, csv_path = built_october
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = smtp_server(inbox, tls_context=server_tls, require_starttls=True, authenticator=authenticator,
                       auth_require_tls=True)
    cfg = config(port, tls="starttls", smtp_username="reports", smtp_ca_file=str(cert),
                 smtp_password_env="TEST_SMTP_PASSWORD")
    caplog.set_level(logging.DEBUG)
    message = report_mail.send_report(cfg, "2026-10", report, csv_path, env={"TEST_SMTP_PASSWORD": SECRET})
    assert len(inbox.messages) == 1 and inbox.messages[0][2].count(b"fault-report-2026-10.csv") >= 1
    assert message["Subject"].startswith("Fault report 2026-10")
    # a wrong password is a clear, permanent error that does not repeat the password
    with pytest.raises(ReportMailError, match="permanent failure at attempt 1 during login: server answered 535") as err:
        report_mail.send_report(cfg, "2026-10", report, csv_path, env={"TEST_SMTP_PASSWORD": "wrong-" + SECRET})
    assert SECRET not in str(err.value) and SECRET not in caplog.text
    assert SECRET not in repr(report_mail.settings_from_config(cfg, {"TEST_SMTP_PASSWORD": SECRET}))
    assert len(inbox.messages) == 1


def test_implicit_tls_delivers_and_an_untrusted_certificate_is_refused(built_october, smtp_server, tmp_path):
    import ssl

    _, report, csv_path = built_october
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    inbox = Inbox()
    port = smtp_server(inbox, ssl_context=server_tls)
    report_mail.send_report(config(port, host="localhost", tls="ssl", smtp_ca_file=str(cert)), "2026-10", report, csv_path)
    assert len(inbox.messages) == 1
    with pytest.raises(ReportMailError, match="permanent failure at attempt 1 during connect.*certificate"):
        report_mail.send_report(config(port, host="localhost", tls="ssl"), "2026-10", report, csv_path)
    assert len(inbox.messages) == 1


def test_a_temporary_refusal_is_retried_with_backoff_and_delivered_once(built_october, smtp_server):
    _, report, csv_path = built_october
    inbox = Inbox(refuse=["451 4.3.0 try again later", "421 4.3.2 busy"])
    port = smtp_server(inbox)
    settings = report_mail.settings_from_config(config(port, smtp_attempts=3))
    message = report_mail.compose("2026-10", report, csv_path, settings.sender, settings.recipients)
    pauses: list[float] = []
    report_mail.send(settings, message, backoff_s=0.5, sleep=pauses.append)
    assert inbox.data_commands == 3 and len(inbox.messages) == 1
    assert pauses == [0.5, 1.0]


def test_a_permanent_refusal_is_not_retried(built_october, smtp_server):
    _, report, csv_path = built_october
    inbox = Inbox(refuse=["554 5.7.1 rejected by policy"])
    port = smtp_server(inbox)
    settings = report_mail.settings_from_config(config(port))
    message = report_mail.compose("2026-10", report, csv_path, settings.sender, settings.recipients)
    with pytest.raises(ReportMailError, match="permanent failure at attempt 1 during data: server answered 554"):
        report_mail.send(settings, message, sleep=lambda s: None)
    assert inbox.data_commands == 1 and not inbox.messages


def test_no_server_gives_a_clear_error_after_the_retries(built_october):
    _, report, csv_path = built_october
    settings = report_mail.settings_from_config(config(free_port(), smtp_attempts=3))
    message = report_mail.compose("2026-10", report, csv_path, settings.sender, settings.recipients)
    pauses: list[float] = []
    with pytest.raises(ReportMailError, match=r"127\.0\.0\.1:\d+ \(none\): gave up after attempt 3 during connect"):
        report_mail.send(settings, message, backoff_s=0.1, sleep=pauses.append)
    assert pauses == [0.1, 0.2]


def test_a_server_that_vanishes_after_the_data_is_not_resent(built_october):
    """The server reads the whole message, then drops the connection without answering."""
    _, report, csv_path = built_october
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"220 test ESMTP\r\n")
                for line in lines:
                    command = line.upper()
                    if command.startswith(b"EHLO"):
                        conn.sendall(b"250 test\r\n")
                    elif command.startswith((b"MAIL", b"RCPT")):
                        conn.sendall(b"250 OK\r\n")
                    elif command.startswith(b"DATA"):
                        conn.sendall(b"354 go ahead\r\n")
                        for body_line in lines:
                            if body_line == b".\r\n":
                                break
                        break  # vanish: no answer to the message

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        settings = report_mail.settings_from_config(config(port, smtp_attempts=3))
        message = report_mail.compose("2026-10", report, csv_path, settings.sender, settings.recipients)
        with pytest.raises(ReportMailError, match="may or may not have been delivered, so it was not resent") as err:
            report_mail.send(settings, message, sleep=lambda s: None)
        assert err.value.may_have_been_sent and len(connections) == 1
    finally:
        listener.close()


def test_missing_settings_are_named(tmp_path):
    with pytest.raises(ReportMailError, match="smtp_host, smtp_sender, report_recipients"):
        report_mail.settings_from_config(Config())
    with pytest.raises(ReportMailError, match="CSMS_SMTP_PASSWORD"):
        report_mail.settings_from_config(config(25, smtp_username="reports"), env={})


def test_command_line_email_failure_is_reported_after_the_report_is_written(tmp_path, monkeypatch, capsys):
    from tests.test_fault_report import october_fixture

    october_fixture(tmp_path)
    monkeypatch.setenv("CSMS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CSMS_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("CSMS_SMTP_TLS", "none")
    monkeypatch.setenv("CSMS_SMTP_SENDER", "csms@example.org")
    monkeypatch.setenv("CSMS_REPORT_RECIPIENTS", '["maint@example.org"]')
    monkeypatch.setenv("CSMS_SMTP_ATTEMPTS", "1")
    assert fault_report.main(["--month", "2026-10", "--email", "--data-root", str(tmp_path)]) == 2
    assert "but not e-mailed" in capsys.readouterr().err
    assert fault_report.read_report(tmp_path, "2026-10").height == len(EXPECTED)
