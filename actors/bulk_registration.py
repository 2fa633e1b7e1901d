"""Bulk onboarding (issue 15 item 6): the typed rows, and what applying one changes, if anything.

Rows are validated by their types when decoded (serve_app/bulk_rows.py reports every row's
errors before anything is applied). Applying is idempotent: a row that says what is already
registered changes nothing and logs no event, so a batch can be sent again after any failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from actors.passwords import hash_password, verify_password
from actors.station_state import Registration

# chargeBoxIdentity: the unreserved URL characters serve_app/handshake.py accepts, 1-48.
StationId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._\-:*+|@]{1,48}$")]
# OCPP security profiles ask for 16 to 40 character AuthorizationKeys.
StationPassword = Annotated[str, msgspec.Meta(min_length=16, max_length=40)]
# idTag and parentIdTag are CiString20 (OCPP 1.6 IdToken).
IdToken = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


class StationRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    station_id: StationId
    password: StationPassword
    site: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    metadata: dict[str, str] = {}
    boot_status: Literal["Accepted", "Pending", "Rejected"] = "Accepted"

    def __repr__(self) -> str:
        # Rows end up in tracebacks and logs: never the password.
        return f"StationRow(station_id={self.station_id!r}, site={self.site!r}, boot_status={self.boot_status!r})"


class IdTagRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id_tag: IdToken
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] = "Accepted"
    expiry_date: datetime | None = None
    parent_id_tag: IdToken | None = None


class BulkOutcome(msgspec.Struct, kw_only=True):
    """What a batch did, row by row counted."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: BulkOutcome) -> None:
        self.rows += other.rows
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


def registration_for(row: StationRow, current: Registration | None, now_us: int) -> Registration | None:
    """The registration `row` asks for, or None when `current` already is exactly that."""
    if (current is not None and current.site == row.site and current.metadata == row.metadata
            and current.boot_status == row.boot_status and verify_password(row.password, current.password_hash)):
        return None
    # The security profile is not a column: a bulk update keeps it (never a downgrade by upload).
    return Registration(password_hash=hash_password(row.password), site=row.site, metadata=dict(row.metadata),
                        boot_status=row.boot_status, registered_at_us=now_us,
                        security_profile=current.security_profile if current is not None else 0,
                        security_profile_pending=current.security_profile_pending if current is not None else None,
                        client_certificate_installed=current.client_certificate_installed if current is not None else False)
