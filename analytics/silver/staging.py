"""The staging step: each OCPP version's bronze rows (by `ocpp_version`) -> version-neutral staged records.

One staging module per version (`staging_16`, `staging_201`) reads that version's payloads; the
table builders see only analytics.silver.records. Adding a version adds its module to
STAGING_BY_VERSION; bronze of a version that is not there is quarantined, never guessed at.

Retransmissions are removed here, once for every table, by the rule and window of
analytics.tables.RETRANSMISSION_WINDOW_S: the station, message id, action and payload name
a CALL, whatever its timestamp says (a 1.6 StatusNotification need not carry one). The
curation reads that much of the day before, so a retransmission just after midnight is
recognised too.
"""

from __future__ import annotations

from typing import Protocol

import polars as pl

from actors import events as ev
from analytics.silver import staging_16, staging_201
from analytics.silver.bronze import BronzeRow, refusal
from analytics.silver.quarantine import Quarantine
from analytics.silver.records import (
    Booted, RemoteStartSent, SecurityEventReported, Staged, TransactionEventSeen, TransactionStarted,
)
from analytics.tables import RETRANSMISSION_WINDOW_S


class VersionStaging(Protocol):
    """The face of a staging module (staging_16 is one)."""

    VERSION: str  # `ocpp_version` of its bronze rows
    INTERPRETED: tuple[str, ...]  # station CALLs whose payload silver reads
    START: str  # the CALL that starts a transaction
    STOP: str  # the CALL that ends one
    BOOT: str  # the CALL with the station's vendor, model and firmware
    REMOTE_START: str  # the CSMS's CALL asking the station to start one
    SAMPLED: tuple[str, ...]  # CALLs carrying timestamped sampled values
    SECURITY_EVENT: str  # the CALL notifying a security event

    def stage_call(self, row: BronzeRow, staged: Staged, quarantine: Quarantine) -> None: ...
    def stage_start(self, row: BronzeRow, quarantine: Quarantine) -> TransactionStarted | None: ...
    def boot(self, row: BronzeRow) -> Booted | None: ...
    def remote_starts(self, frame: pl.DataFrame, d: int, quarantine: Quarantine) -> list[RemoteStartSent]: ...
    # A START row's place in its transaction's numbering (2.0.1 seqNo), None where the version
    # numbers none (1.6).
    def stage_event(self, row: BronzeRow) -> TransactionEventSeen | None: ...
    def stage_security_event(self, row: BronzeRow, quarantine: Quarantine) -> SecurityEventReported | None: ...


STAGING_BY_VERSION: dict[str, VersionStaging] = {s.VERSION: s for s in (staging_16, staging_201)}


def _every(name: str) -> tuple[str, ...]:
    """The action(s) `name` of every version: what the curation reads from bronze."""
    found = (getattr(s, name) for s in STAGING_BY_VERSION.values())
    return tuple(dict.fromkeys(a for v in found for a in ((v,) if isinstance(v, str) else v)))


INTERPRETED = _every("INTERPRETED")
START_ACTIONS = _every("START")
STOP_ACTIONS = _every("STOP")
BOOT_ACTIONS = _every("BOOT")
REMOTE_START_ACTIONS = _every("REMOTE_START")
SAMPLED_ACTIONS = _every("SAMPLED")
SECURITY_EVENT_ACTIONS = _every("SECURITY_EVENT")


class Retransmissions:
    """Recognises a CALL received again: same station, message id, action and payload within the window."""

    def __init__(self, window_s: float = RETRANSMISSION_WINDOW_S) -> None:
        self.window_us = int(window_s * 1_000_000)
        self.first: dict[tuple[str, str, str], tuple[int, str | None]] = {}

    def is_copy(self, row: BronzeRow) -> bool:
        """True when `row` repeats a CALL already seen (call in receive order); else it is the first copy."""
        key = (row["station_id"], row["message_id"], row["action"])
        first = self.first.get(key)
        if first is not None and first[1] == row["payload"] and row["received_at"] - first[0] <= self.window_us:
            return True
        self.first[key] = (row["received_at"], row["payload"])
        return False


def _staging_of(row: BronzeRow, quarantine: Quarantine) -> VersionStaging | None:
    staging = STAGING_BY_VERSION.get(row["ocpp_version"])
    if staging is None:
        quarantine.add(row, f"OCPP version {row['ocpp_version']!r} is not curated")
    return staging


def stage_calls(calls: pl.DataFrame, quarantine: Quarantine) -> Staged:
    """The interpreted CALLs of `calls` (answered_calls of the window, in receive order), staged;
    what the CSMS refused, what is malformed or unreadable goes to `quarantine` with the reason."""
    staged = Staged()
    copies = Retransmissions()
    for row in calls.iter_rows(named=True):
        reason = refusal(row)
        if reason is not None:
            quarantine.add(row, reason)
        elif row["action"] == ev.MALFORMED:
            quarantine.add(row, "malformed OCPP-J frame")
        elif row["action"] in INTERPRETED and not copies.is_copy(row):
            staging = _staging_of(row, quarantine)
            if staging is not None and row["action"] in staging.INTERPRETED:
                staging.stage_call(row, staged, quarantine)
    return staged


def stage_starts(calls: pl.DataFrame, quarantine: Quarantine) -> list[TransactionStarted]:
    """The transaction starts of `calls` (answered_calls of the lookback, in receive order) the CSMS
    answered with a transaction id. Retransmissions stay: the transaction id the CSMS gave back
    names the transaction whatever the message id (it answers a repeated start with the id it
    gave), and transactions.is_duplicate counts the copies."""
    found = []
    for row in calls.iter_rows(named=True):
        if row["answer_type"] != "CALLRESULT" or row["action"] not in START_ACTIONS:
            continue  # refused or unanswered: no transaction id was given out
        staging = _staging_of(row, quarantine)
        if staging is not None and row["action"] == staging.START:
            started = staging.stage_start(row, quarantine)
            if started is not None:
                found.append(started)
    return found


def stage_events(calls: pl.DataFrame) -> list[TransactionEventSeen]:
    """The numbered transaction events among `calls` (the lookback's START rows the CSMS answered),
    for the transactions' seq gaps."""
    found = []
    for row in calls.iter_rows(named=True):
        if row["answer_type"] != "CALLRESULT" or row["action"] not in START_ACTIONS:
            continue
        staging = STAGING_BY_VERSION.get(row["ocpp_version"])
        seen = staging.stage_event(row) if staging is not None and row["action"] == staging.START else None
        if seen is not None:
            found.append(seen)
    return found


def stage_security_events(calls: pl.DataFrame, quarantine: Quarantine) -> list[SecurityEventReported]:
    """The security events of `calls` (answered_calls of the window, in receive order) the CSMS
    answered; one it refused is quarantined with the reason by stage_calls, not here."""
    found = []
    for row in calls.iter_rows(named=True):
        if row["answer_type"] == "CALLERROR" or row["action"] not in SECURITY_EVENT_ACTIONS:
            continue
        staging = _staging_of(row, quarantine)
        if staging is not None and row["action"] == staging.SECURITY_EVENT:
            event = staging.stage_security_event(row, quarantine)
            if event is not None:
                found.append(event)
    return found


def remote_starts(window: pl.DataFrame, d: int, quarantine: Quarantine) -> list[RemoteStartSent]:
    """The remote starts the CSMS sent on day `d`, each with the station's answer, every version's."""
    found: list[RemoteStartSent] = []
    for version, staging in STAGING_BY_VERSION.items():
        found.extend(staging.remote_starts(window.filter(pl.col("ocpp_version") == version), d, quarantine))
    return found


def boot(row: BronzeRow) -> Booted | None:
    """The boot notification of an inbound bronze row; None if unreadable or of a version not curated."""
    staging = STAGING_BY_VERSION.get(row["ocpp_version"])
    return staging.boot(row) if staging is not None and row["action"] == staging.BOOT else None
