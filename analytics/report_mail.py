"""E-mail the monthly fault report: an HTML table with a bar chart, a plain-text part, the CSV attached.

The chart is HTML, not an image: nested tables with a coloured cell whose width is the
station's share of the worst station's faults. Mail clients (Outlook included) render
table widths and bgcolor, and nothing has to be fetched or decoded, so it needs no
plotting dependency and no remote images.

Delivery (RFC 5321): one SMTP session per attempt, TLS per `smtp_tls`, AUTH when a
username is configured. A failure is retried with backoff only while the server has
certainly not accepted the message: a refused or dropped connection, a 4xx answer to any
command, or a 4xx answer to the message data. A 5xx answer is permanent and not retried.
A connection lost after the message data went out is ambiguous (the server may have
queued it), so it is reported, not retried: a maintenance manager would rather get one
mail late than two.
"""

from __future__ import annotations

import html
import json
import logging
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import msgspec
import polars as pl

from analytics.fault_report import FAULTS_PER_DAY_THRESHOLD

log = logging.getLogger("csms.analytics.report_mail")

CHART_ROWS = 20  # stations shown in the chart; the table and the CSV have all of them
BAR_COLOUR = "#c0392b"


class ReportMailError(Exception):
    """The report could not be e-mailed; the message says why and whether it may have gone."""

    def __init__(self, message: str, may_have_been_sent: bool = False) -> None:
        super().__init__(message)
        # True when the connection was lost after the message data went out: resending
        # could deliver it twice.
        self.may_have_been_sent = may_have_been_sent


class SmtpSettings(msgspec.Struct, kw_only=True):
    host: str
    port: int
    tls: str  # none | starttls | ssl
    username: str
    password: str = msgspec.field(default="")
    sender: str
    recipients: list[str]
    timeout_s: float
    attempts: int
    ca_file: str = ""

    def __repr__(self) -> str:  # never show the password, whoever prints this
        return f"SmtpSettings(host={self.host!r}, port={self.port}, tls={self.tls!r}, username={self.username!r})"

    __str__ = __repr__


def settings_from_config(config, env: Mapping[str, str] | None = None) -> SmtpSettings:
    """SMTP settings from the Config; the password from the environment variable it names."""
    env = os.environ if env is None else env
    missing = [name for name, value in (("smtp_host", config.smtp_host), ("smtp_sender", config.smtp_sender),
                                        ("report_recipients", config.report_recipients)) if not value]
    if missing:
        raise ReportMailError(f"e-mail is not configured: set {', '.join(missing)}")
    password = env.get(config.smtp_password_env, "") if config.smtp_username else ""
    if config.smtp_username and not password:
        raise ReportMailError(f"smtp_username is set but the environment variable {config.smtp_password_env} "
                              "(the SMTP password) is empty")
    return SmtpSettings(
        host=config.smtp_host, port=config.smtp_port, tls=config.smtp_tls, username=config.smtp_username,
        password=password, sender=config.smtp_sender, recipients=list(config.report_recipients),
        timeout_s=config.smtp_timeout_s, attempts=max(1, config.smtp_attempts), ca_file=config.smtp_ca_file,
    )


# --- the message -------------------------------------------------------------------------


def compose(month: str, report: pl.DataFrame, csv_path: Path | None, sender: str, recipients: list[str],
            threshold: int = FAULTS_PER_DAY_THRESHOLD) -> EmailMessage:
    message = EmailMessage()
    count = report.height
    message["Subject"] = (f"Fault report {month}: {count} station{'s' if count != 1 else ''} with "
                          f">= {threshold} faults in a day" if count else
                          f"Fault report {month}: no station crossed the threshold")
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(plain_text(month, report, threshold))
    message.add_alternative(html_body(month, report, threshold), subtype="html")
    if csv_path is not None:
        message.add_attachment(Path(csv_path).read_bytes(), maintype="text", subtype="csv",
                               filename=f"fault-report-{month}.csv")
    return message


def _headline(month: str, report: pl.DataFrame, threshold: int) -> str:
    if report.is_empty():
        return (f"No station crossed the threshold in {month}: none reported the Faulted status "
                f"{threshold} or more times within a single UTC day.")
    return (f"{report.height} station(s) reported the Faulted status at least {threshold} times within a single "
            f"UTC day in {month}, {int(report['faults_in_month'].sum())} faults in all. Ranked by faults in the month.")


def _codes(error_codes: str) -> list[str]:
    return [f"{code} {n}" for code, n in json.loads(error_codes).items()]


def _per_day(daily_counts: str) -> list[str]:
    """{"2026-10-03": 5, "2026-10-10": 1} as ["03: 5", "10: 1"] (day of the month: count)."""
    return [f"{day[-2:]}: {n}" for day, n in json.loads(daily_counts).items()]


def _connector(connector_id: int | str) -> str:
    return "station" if int(connector_id) == 0 else str(connector_id)  # 0: the whole station (OCPP 1.6 4.9)


def _connectors(faulted_connectors: str) -> list[str]:
    """{"1": 4, "2": 2} as ["1 (4)", "2 (2)"]: each connector that faulted, with its faults."""
    return [f"{_connector(c)} ({n})" for c, n in json.loads(faulted_connectors).items()]


def _now(still_faulted_connectors: str) -> str:
    """Whether the station is still faulted when the report is built, and on which connectors."""
    still = json.loads(still_faulted_connectors)
    return f"still faulted: {', '.join(_connector(c) for c in still)}" if still else "recovered"


def plain_text(month: str, report: pl.DataFrame, threshold: int = FAULTS_PER_DAY_THRESHOLD) -> str:
    lines = [f"CSMS fault report {month}", "", _headline(month, report, threshold), ""]
    if not report.is_empty():
        header = f"{'rank':>4}  {'station':<24} {'site':<16} {'faults':>6}  {'worst day':<10} {'that day':>8}  error codes"
        lines += [header, "-" * len(header)]
        for r in report.iter_rows(named=True):
            lines.append(f"{r['rank']:>4}  {r['station_id']:<24} {(r['site'] or '-'):<16} {r['faults_in_month']:>6}  "
                         f"{r['worst_day'].isoformat():<10} {r['worst_day_faults']:>8}  {', '.join(_codes(r['error_codes']))}")
            lines.append(f"{'':>6}faults per day of the month: {', '.join(_per_day(r['daily_counts']))}")
            lines.append(f"{'':>6}faulted connectors (faults): {', '.join(_connectors(r['faulted_connectors']))}; "
                         f"now {_now(r['still_faulted_connectors'])}")
        lines += ["", "The attached CSV has every column (daily_counts as JSON)."]
    return "\n".join(lines) + "\n"


# A cell that must never break inside (a date, a station id, a site, "12: 5"): mail clients
# wrap table cells at hyphens and spaces, which split "2026-10-25" and "CP-FOXTROT" (issue 16).
NOWRAP = "white-space:nowrap"


def _items(items: list[str]) -> str:
    """A list that may wrap between its items, never inside one (its cell gets a min-width, or a
    narrow window squeezes it to one item per line)."""
    return ", ".join(f'<span style="{NOWRAP}">{html.escape(item)}</span>' for item in items)


def html_body(month: str, report: pl.DataFrame, threshold: int = FAULTS_PER_DAY_THRESHOLD) -> str:
    e = html.escape
    cell = 'style="padding:4px 8px;border-bottom:1px solid #ddd;text-align:{align}{extra}"'
    parts = [
        "<!DOCTYPE html><html><body style=\"font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222\">",
        f"<h2 style=\"margin:0 0 8px\">Fault report {e(month)}</h2>",
        f"<p>{e(_headline(month, report, threshold))}</p>",
    ]
    if not report.is_empty():
        parts.append(_chart(report))
        heads = ["Rank", "Station", "Site", "Faults in month", "Worst day", "Faults that day",
                 f"Days with &ge; {threshold}", "Error codes", "Faults per day of the month",
                 "Faulted connectors (faults)", "Now"]
        parts.append('<table id="fault-report" cellspacing="0" cellpadding="0" style="border-collapse:collapse">')
        parts.append("<tr>" + "".join(f'<th {cell.format(align="left", extra="")}>{h}</th>' for h in heads) + "</tr>")
        whole = ";" + NOWRAP
        for r in report.iter_rows(named=True):
            now = _now(r["still_faulted_connectors"])
            colour = ";color:#c0392b;font-weight:bold" if now != "recovered" else ";color:#1e7e34"
            values = [(r["rank"], "right", whole), (e(r["station_id"]), "left", whole),
                      (e(r["site"] or "-"), "left", whole), (r["faults_in_month"], "right", whole),
                      (r["worst_day"].isoformat(), "left", whole), (r["worst_day_faults"], "right", whole),
                      (r["days_at_or_over_threshold"], "right", whole),
                      (_items(_codes(r["error_codes"])), "left", ";min-width:14em"),
                      (_items(_per_day(r["daily_counts"])), "left", ";min-width:14em"),
                      (_items(_connectors(r["faulted_connectors"])), "left", ";min-width:7em"),
                      (e(now), "left", whole + colour)]
            parts.append("<tr>" + "".join(f"<td {cell.format(align=a, extra=x)}>{v}</td>" for v, a, x in values)
                         + "</tr>")
        parts.append("</table>")
        parts.append("<p style=\"color:#666\">The attached CSV has every column. \"Now\": the latest status of "
                     "each faulted connector when the report was built.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _chart(report: pl.DataFrame) -> str:
    """Horizontal bars of faults in the month for the top stations (see the module docstring)."""
    top = report.head(CHART_ROWS)
    most = max(int(top["faults_in_month"].max()), 1)
    rows = []
    for r in top.iter_rows(named=True):
        width = max(1, round(100 * r["faults_in_month"] / most))
        rows.append(
            f'<tr><td style="padding:2px 8px;{NOWRAP}">{html.escape(r["station_id"])}</td>'
            f'<td style="padding:2px 0;width:320px"><table class="bar" width="{width}%" cellspacing="0" '
            f'cellpadding="0"><tr><td bgcolor="{BAR_COLOUR}" style="background:{BAR_COLOUR};height:14px;'
            f'font-size:1px;line-height:1px">&nbsp;</td></tr></table></td>'
            f'<td style="padding:2px 8px;{NOWRAP}">{r["faults_in_month"]}</td></tr>'
        )
    caption = (f"Faulted statuses in the month, top {top.height}" if report.height > top.height
               else "Faulted statuses in the month")
    return (f'<p style="margin:12px 0 4px"><b>{caption}</b></p>'
            f'<table id="fault-chart" cellspacing="0" cellpadding="0" style="margin-bottom:16px">{"".join(rows)}</table>')


# --- delivery ----------------------------------------------------------------------------


class _Attempt:
    """Where a session got to: decides whether a failure may be retried."""

    def __init__(self) -> None:
        self.stage = "connect"
        self.data_sent = False


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.ca_file:
        context.load_verify_locations(settings.ca_file)
    return context


def _login(smtp: smtplib.SMTP, settings: SmtpSettings) -> None:
    """AUTH once, with the strongest mechanism the server offers.

    smtplib's login() tries every offered mechanism in turn; after a wrong password that
    only repeats the failure (which servers count towards lock-out), and some servers
    stall on the fallback instead of answering.
    """
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in ("CRAM-MD5", "PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        raise smtplib.SMTPNotSupportedError("the server offers no AUTH mechanism we support (CRAM-MD5, PLAIN, LOGIN)")
    smtp.user, smtp.password = settings.username, settings.password
    smtp.auth(mechanism, getattr(smtp, "auth_" + mechanism.lower().replace("-", "_")))


def _deliver_once(settings: SmtpSettings, message: EmailMessage, attempt: _Attempt) -> None:
    context = _tls_context(settings) if settings.tls != "none" else None
    if settings.tls == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    try:
        attempt.stage = "ehlo"
        smtp.ehlo()
        if settings.tls == "starttls":
            attempt.stage = "starttls"
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.username:
            attempt.stage = "login"
            _login(smtp, settings)
        attempt.stage = "mail"
        code, reply = smtp.mail(settings.sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, settings.sender)
        attempt.stage = "rcpt"
        refused = {}
        for rcpt in settings.recipients:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        if len(refused) == len(settings.recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        if refused:
            log.warning("some report recipients were refused", extra={"refused": sorted(refused)})
        attempt.stage = "data"
        # From here on a lost connection is ambiguous; a 4xx/5xx answer to the data is not.
        attempt.data_sent = True
        # smtplib sends bytes as they are: the lines must already end in CRLF (RFC 5321 2.3.8).
        code, reply = smtp.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        attempt.stage = "accepted"
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()  # the message was accepted or the error above says why not


def _transient(exc: BaseException, attempt: _Attempt) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, (OSError, smtplib.SMTPServerDisconnected)):
        return not attempt.data_sent
    return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"server answered {exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "every recipient was refused: " + ", ".join(
            f"{rcpt} ({code})" for rcpt, (code, _) in sorted(exc.recipients.items()))
    if isinstance(exc, socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def send(settings: SmtpSettings, message: EmailMessage, backoff_s: float = 1.0,
         sleep: Callable[[float], None] = time.sleep) -> None:
    """Deliver `message`; raises ReportMailError saying what failed and whether it may have gone."""
    where = f"{settings.host}:{settings.port} ({settings.tls})"
    for number in range(1, settings.attempts + 1):
        attempt = _Attempt()
        try:
            _deliver_once(settings, message, attempt)
        except (smtplib.SMTPException, OSError) as exc:
            why = _describe(exc)
            if attempt.data_sent and not isinstance(exc, smtplib.SMTPResponseException):
                raise ReportMailError(f"SMTP {where}: the connection was lost after the report was sent ({why}); "
                                      "it may or may not have been delivered, so it was not resent",
                                      may_have_been_sent=True) from None
            retry = _transient(exc, attempt) and number < settings.attempts
            log.warning("report e-mail attempt failed", extra={
                "smtp_host": settings.host, "smtp_port": settings.port, "attempt": number,
                "stage": attempt.stage, "reason": why, "retrying": retry})
            if not retry:
                kind = "gave up after" if _transient(exc, attempt) else "permanent failure at"
                raise ReportMailError(f"SMTP {where}: {kind} attempt {number} during {attempt.stage}: {why}") from None
            sleep(backoff_s * 2 ** (number - 1))
            continue
        log.info("report e-mail accepted", extra={"smtp_host": settings.host, "recipients": len(settings.recipients),
                                                  "attempt": number, "subject": message["Subject"]})
        return


def send_report(config, month: str, report: pl.DataFrame, csv_path: Path | None,
                env: Mapping[str, str] | None = None) -> EmailMessage:
    """Compose and send one month's report with the Config's SMTP settings."""
    settings = settings_from_config(config, env)
    message = compose(month, report, csv_path, settings.sender, settings.recipients)
    send(settings, message)
    return message


def mail_configured(config) -> bool:
    return bool(config.smtp_host and config.smtp_sender and config.report_recipients)


__all__ = ["ReportMailError", "SmtpSettings", "compose", "mail_configured", "send", "send_report",
           "settings_from_config"]

