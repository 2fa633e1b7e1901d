"""What the operator API answers besides a station's own views (actors/views.py): pages, results, health."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from actors.authorizer.resolver import AuthorizationStatus
from actors.events import Event, UtcDatetime, utc_datetime as utc
from actors.station_state import IdTagRecord
from actors.unknown_stations import UnknownStation
from actors.views import DeviceVariableView, StationSummary, StationView, TransactionView


class Health(msgspec.Struct, kw_only=True):
    # "degraded" while a host does not answer or cannot make events durable.
    status: Literal["ok", "degraded"]
    # Whether each StationHost answered.
    station_hosts: dict[str, bool]
    # Why a host is degraded, by host: not answering, or what stops its events being durable.
    problems: dict[str, str] = {}


class StationPage(msgspec.Struct, kw_only=True):
    total: int
    stations: list[StationSummary]


class UnknownStationPage(msgspec.Struct, kw_only=True):
    # Unknown ids kept (each host keeps its most recent `unknown_stations_kept`).
    total: int
    stations: list[UnknownStation]


class StationRegistered(msgspec.Struct, kw_only=True):
    station_id: str
    created: bool


class PasswordChanged(msgspec.Struct, kw_only=True, omit_defaults=True):
    station_id: str
    changed: bool
    pushed: bool
    # The station's answer to the password command of its version (pushed changes only): 1.6
    # ChangeConfiguration AuthorizationKey, 2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword.
    station_status: str | None = None


class StationVariables(msgspec.Struct, kw_only=True):
    """A 2.0.1 station's stored device model (NotifyReport, GetVariables, SetVariables), or the
    part of it a filter names; a 1.6 station has none (its configuration keys: GET /api/stations/{id})."""

    station_id: str
    ocpp_version: str
    variables: list[DeviceVariableView]


def station_variables(view: StationView, component: str | None, variable: str | None) -> StationVariables:
    """The device model of a station view, filtered by component and variable name
    (identifierString: case-insensitive, OCPP 2.0.1 Part 2 section 2.1.4)."""
    def wanted(name: str, asked: str | None) -> bool:
        return asked is None or name.lower() == asked.lower()

    model = view.v201.device_model if view.v201 is not None else []
    return StationVariables(station_id=view.station_id, ocpp_version=view.ocpp_version, variables=[
        v for v in model if wanted(v.component, component) and wanted(v.variable, variable)])


class EventView(msgspec.Struct, kw_only=True):
    received_at: UtcDatetime
    station_timestamp: UtcDatetime | None
    direction: str
    message_type: str
    message_id: str
    action: str
    # The frame's payload as JSON; a malformed frame as the text the station sent.
    payload: Any


class EventPage(msgspec.Struct, kw_only=True):
    station_id: str
    total_kept: int
    offset: int
    events: list[EventView]


class TransactionPage(msgspec.Struct, kw_only=True):
    total: int
    energy_wh: float
    transactions: list[TransactionView]


class AuthorizationOverview(msgspec.Struct, kw_only=True):
    enabled: bool
    mode: str
    policy: str
    hosts: list[AuthorizationStatus]


class IdTagView(msgspec.Struct, kw_only=True):
    id_tag: str
    status: str
    expiry_date: UtcDatetime | None
    parent_id_tag: str | None


class IdTagList(msgspec.Struct, kw_only=True):
    id_tags: list[IdTagView]


def event_view(event: Event) -> EventView:
    try:
        payload: Any = msgspec.json.decode(event.payload)
    except msgspec.DecodeError:
        payload = event.payload  # a malformed frame, shown as the station sent it
    return EventView(
        received_at=utc(event.received_at_us),
        station_timestamp=utc(event.station_ts_us),
        direction=event.direction,
        message_type=event.message_type,
        message_id=event.message_id,
        action=event.action,
        payload=payload,
    )


def id_tag_view(id_tag: str, record: IdTagRecord) -> IdTagView:
    return IdTagView(id_tag=id_tag, status=record.status, expiry_date=utc(record.expiry_us),
                     parent_id_tag=record.parent_id_tag)
