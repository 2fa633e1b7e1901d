"""The face every OCPP version exposes to the rest of the CSMS (one `Protocol` object per version folder).

The session, host, gateway, rate limit, authorizer and operator API know OCPP only through
this shape; they find a station's version in `actors.protocols.PROTOCOLS` by the version its
state names. A version folder (`actors/ocpp<version>/`, one per version) fills it in:
docs/architecture.md says how. Everything here is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from actors.station_state import IdTagRecord, Settlement, StationState


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """What the CSMS tells stations, whatever their version; from the configuration."""

    heartbeat_interval_s: int = 300
    pending_retry_interval_s: int = 60
    completed_transactions_kept: int = 200
    # Whether a certificate authority signs stations' CSRs (config `station_ca` is not "off"),
    # and the organisation (O) a CSR must name; empty: not checked (actors/certificate_authority.py).
    certificate_signing: bool = False
    certificate_organization: str = ""


class Context(msgspec.Struct, frozen=True, kw_only=True):
    """What an answer may read besides the station's state and the request."""

    policy: Policy
    id_tags: Mapping[str, IdTagRecord]
    now_us: int


# answer(state, request, ctx) -> the CALLRESULT payload (a msgspec Struct); never mutates state.
Answer = Callable[[StationState, Any, Context], Any]
# apply(state, request, result, at_us): folds the logged CALL + CALLRESULT pair into the state.
Apply = Callable[[StationState, Any, Any, int], None]


def no_stale_transactions(state: StationState, action: str, request: Any, at_us: int) -> list[Settlement]:
    return []


def no_security_profile(action: str, request_json: str, response_json: str) -> int | None:
    return None


def no_requested_profile(action: str, request_json: str) -> int | None:
    return None


def no_certificate_request(action: str, request: Any) -> str | None:
    return None


def no_certificate_signed(chain_pem: str) -> tuple[str, str] | None:
    return None


def no_state_rules(state: StationState, action: str, request: Any) -> None:
    return None


def answer_status(action: str, response_json: str) -> str | None:
    """The `status` of a station's answer, where it has one at its top."""
    try:
        answer = msgspec.json.decode(response_json)
    except msgspec.DecodeError:
        return None
    status = answer.get("status") if isinstance(answer, dict) else None
    return status if isinstance(status, str) else None


@dataclass(frozen=True, slots=True)
class StationAction:
    """One station-initiated action: how it is answered and how the answer changes state."""

    answer: Answer
    apply: Apply
    # The answer's type: the logged CALLRESULT decodes into it for `apply` (live and on replay).
    result_type: type
    # The CALLRESULT leaves only after the events are fsync'd (DESIGN.md, Durability).
    durable: bool
    # Stations retry it until answered and must not lose it: the rate limit delays it
    # instead of refusing it.
    transaction_message: bool = False
    # May come before the station's BootNotification is Accepted.
    before_accepted: bool = False
    # Its answer carries an idTagInfo / idTokenInfo the CSMS decides: an external authorizer
    # may be asked ("decide"), or only its cached answers used ("cache"), else None.
    authorization: str | None = None


@dataclass(frozen=True, slots=True)
class Protocol:
    """One OCPP version as the rest of the system sees it."""

    # On the station's state and on every event (`Event.ocpp_version`, bronze).
    version: str
    # The websocket subprotocol that selects it (OCPP-J section 3.1.2).
    subprotocol: str
    actions: Mapping[str, StationAction]
    # decode_request(action, payload bytes) -> typed request; raises msgspec.ValidationError.
    decode_request: Callable[[str, bytes], Any]
    # CSMS-initiated actions (operator commands): action -> request type.
    commands: Mapping[str, type]
    # decode_command(action, payload) -> typed request; raises msgspec.ValidationError.
    decode_command: Callable[[str, bytes | str], Any]
    # check_command(action, request): ValueError for a command the station could not use
    # (e.g. a password it could not authenticate with).
    check_command: Callable[[str, Any], None]
    # loggable_command(action, request) -> the request as the log may keep it (secrets masked).
    loggable_command: Callable[[str, Any], Any]
    # loggable_result(action, payload_json) -> the station's answer as the log may keep it.
    loggable_result: Callable[[str, str], str]
    # apply_command_result(state, action, request_json, response_json, at_us): fold the
    # station's CALLRESULT to our CALL; never raises.
    apply_command_result: Callable[[StationState, str, str, str, int], bool]
    # new_password(action, request_json, response_json) -> the Basic-auth password bytes a
    # command the station accepted set, else None (the host stores its hash).
    new_password: Callable[[str, str, str], bytes | None]
    # station_timestamp_us(request) -> the station's own time of what it reports, if any.
    station_timestamp_us: Callable[[Any], int | None]
    # id_token(request) -> the id token (normalised) whose decision the answer needs, if any.
    id_token: Callable[[Any], str | None]
    # after_apply(state, action, policy): bounds the state after an action folded (e.g.
    # forgets old completed transactions).
    after_apply: Callable[[StationState, str, Policy], None]
    # authorization_outcome(request, answer) -> (the id-token status the answer sent, the
    # transaction the decision belongs to or None): what an AuthorizationDecided event records.
    authorization_outcome: Callable[[Any, Any], tuple[str, int | str | None]]
    # Commands that may not be sent while the station's boot is not Accepted.
    not_while_pending: frozenset[str] = frozenset()
    # stale_transactions(state, action, request, at_us) -> the settlements of the open
    # transactions this station request shows are over though no stop came (actors/settlement.py);
    # asked before the request is answered, on the state before it.
    stale_transactions: Callable[[StationState, str, Any, int], list[Settlement]] = no_stale_transactions
    # new_security_profile(action, request_json, response_json) -> the security profile a
    # command the station accepted moves it to, else None (the host keeps it with the answer as
    # the station's pending profile, enforced once a handshake proves it: security_profiles.py).
    new_security_profile: Callable[[str, str, str], int | None] = no_security_profile
    # check_command_on(state, action, request): ValueError for a valid command that what the
    # station holds forbids now (409, nothing sent): e.g. 2.0.1 K01.FR.09, a TxProfile for a
    # transaction that is not open on that EVSE.
    check_command_on: Callable[[StationState, str, Any], None] = no_state_rules
    # requested_security_profile(action, request_json) -> the profile a command asks the station
    # to move to, else None: a raise to 3 waits for a client certificate (security_profiles.py).
    requested_security_profile: Callable[[str, str], int | None] = no_requested_profile
    # certificate_request(action, request) -> the PEM CSR of a station request that asks our CA
    # for a client certificate (1.6: SignCertificate), else None; the session answers it and
    # the host has it signed once that answer is durable.
    certificate_request: Callable[[str, Any], str | None] = no_certificate_request
    # certificate_signed(chain_pem) -> (action, payload JSON) of the command that delivers an
    # issued chain to a station of this version (1.6: CertificateSigned), or None if none.
    certificate_signed: Callable[[str], tuple[str, str] | None] = no_certificate_signed
    # (action, payload) of the command that asks a station for a new CSR (renewal; 1.6:
    # ExtendedTriggerMessage SignChargePointCertificate), None if the version has none.
    certificate_renewal: tuple[str, dict[str, Any]] | None = None
    # password_command(password) -> (action, payload): the command that gives a station a new
    # Basic-auth password (1.6: ChangeConfiguration AuthorizationKey; 2.0.1: SetVariables of
    # SecurityCtrlr.BasicAuthPassword); `new_password` says whether its answer accepted it.
    password_command: Callable[[str], tuple[str, dict[str, Any]]] | None = None
    # command_status(action, response_json) -> the status a station's answer to our command reports.
    command_status: Callable[[str, str], str | None] = answer_status
    # Other versions' names of commands this version calls otherwise (1.6 RemoteStartTransaction
    # -> 2.0.1 RequestStartTransaction), so an operator who names the other version's action
    # is told the one to use (actors.protocols.other_version_command).
    renamed_commands: Mapping[str, str] = field(default_factory=dict)
    # This version's spelling of an OCPP-J error code, where it differs from actors.ocppj's
    # (1.6) names: OCPP-J 2.0.1 section 4.3 says FormatViolation, OccurrenceConstraintViolation.
    error_codes: Mapping[str, str] = field(default_factory=dict)
    # Derived: the transaction messages; and the quoted names of the actions whose answer
    # needs an authorization decision, for a cheap test on the raw frame.
    transaction_actions: frozenset[str] = field(init=False)
    authorization_markers: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "transaction_actions",
                           frozenset(a for a, s in self.actions.items() if s.transaction_message))
        object.__setattr__(self, "authorization_markers",
                           tuple(f'"{a}"' for a, s in self.actions.items() if s.authorization is not None))
