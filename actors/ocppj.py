"""OCPP-J framing (OCPP-J 1.6 section 4, 2.0.1 part 4): parse and build CALL / CALLRESULT / CALLERROR.

Pure functions, no I/O. A frame that cannot be parsed becomes a `FrameError` carrying the
CALLERROR to send back: bad input is answered, the connection stays open.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

CALL = 2
CALLRESULT = 3
CALLERROR = 4

# OCPP-J 1.6 section 4.2.3 error codes (1.6 spells "Occurence"; 2.0.1 fixes it).
NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"
INTERNAL_ERROR = "InternalError"
PROTOCOL_ERROR = "ProtocolError"
SECURITY_ERROR = "SecurityError"
FORMATION_VIOLATION = "FormationViolation"
PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
GENERIC_ERROR = "GenericError"

# The id we answer with when the frame's own message id cannot be read (2.0.1 part 4
# section 4.2.3; we apply the same rule to 1.6, which leaves the case open).
UNREADABLE_MESSAGE_ID = "-1"
MAX_MESSAGE_ID_LENGTH = 36
# No OCPP message nests deeper than about 8 arrays and objects (frame included). JSON decoders
# recurse, so a frame of a few thousand "[" would otherwise raise RecursionError (found by
# tests/test_fuzz_station.py), and only sometimes: the limit depends on the caller's stack.
MAX_NESTING = 32


class Call(msgspec.Struct, frozen=True):
    message_id: str
    action: str
    payload: msgspec.Raw


class CallResult(msgspec.Struct, frozen=True):
    message_id: str
    payload: msgspec.Raw


class CallError(msgspec.Struct, frozen=True):
    message_id: str
    code: str
    description: str
    details: msgspec.Raw


class FrameError(msgspec.Struct, frozen=True):
    """An inbound frame we could not accept; `reply` is the CALLERROR frame to send."""

    message_id: str
    code: str
    description: str

    @property
    def reply(self) -> str:
        return call_error(self.message_id, self.code, self.description)


Frame = Call | CallResult | CallError

_decode_elements = msgspec.json.Decoder(list[msgspec.Raw]).decode
_decode_str = msgspec.json.Decoder(str).decode
_decode_int = msgspec.json.Decoder(int).decode
_encode = msgspec.json.encode


def parse_frame(text: str | bytes) -> Frame | FrameError:
    """Split an OCPP-J message into its parts without decoding the payload."""
    if _nested_too_deep(text):
        # Answered under its own id where that can be read (issue 16, item 8).
        return FrameError(_leading_message_id(text) or UNREADABLE_MESSAGE_ID, FORMATION_VIOLATION,
                          f"frame nests deeper than {MAX_NESTING} levels")
    try:
        elements = _decode_elements(text)
    except msgspec.ValidationError:
        # msgspec rejects a leading "{" before reading further, so this is only "not an
        # array" if the whole text is JSON; broken JSON is syntactically incorrect (4.2.3).
        if not _is_json(text):
            return FrameError(UNREADABLE_MESSAGE_ID, FORMATION_VIOLATION, "frame is not valid JSON")
        # Well-formed JSON that is not an array is no RPC frame at all (section 4.1.3).
        return FrameError(UNREADABLE_MESSAGE_ID, PROTOCOL_ERROR, "frame is not a JSON array")
    except msgspec.DecodeError:
        return FrameError(UNREADABLE_MESSAGE_ID, FORMATION_VIOLATION, "frame is not valid JSON")
    message_id = _read_message_id(elements)
    if len(elements) < 3:
        return FrameError(message_id or UNREADABLE_MESSAGE_ID, PROTOCOL_ERROR, "frame has too few elements")
    try:
        message_type = _decode_int(elements[0])
    except msgspec.DecodeError:
        return FrameError(message_id or UNREADABLE_MESSAGE_ID, PROTOCOL_ERROR, "message type is not an integer")
    if message_id is None:
        return FrameError(UNREADABLE_MESSAGE_ID, PROTOCOL_ERROR, "message id is not a string of at most 36 characters")
    if message_type == CALL:
        if len(elements) != 4:
            return FrameError(message_id, PROTOCOL_ERROR, "CALL must have 4 elements")
        try:
            action = _decode_str(elements[2])
        except msgspec.DecodeError:
            return FrameError(message_id, PROTOCOL_ERROR, "action is not a string")
        if not bytes(elements[3]).lstrip().startswith(b"{"):
            return FrameError(message_id, FORMATION_VIOLATION, "payload is not a JSON object")
        return Call(message_id, action, elements[3])
    if message_type == CALLRESULT:
        if len(elements) != 3:
            return FrameError(message_id, PROTOCOL_ERROR, "CALLRESULT must have 3 elements")
        return CallResult(message_id, elements[2])
    if message_type == CALLERROR:
        if len(elements) != 5:
            return FrameError(message_id, PROTOCOL_ERROR, "CALLERROR must have 5 elements")
        try:
            code, description = _decode_str(elements[2]), _decode_str(elements[3])
        except msgspec.DecodeError:
            return FrameError(message_id, PROTOCOL_ERROR, "CALLERROR code and description must be strings")
        return CallError(message_id, code, description, elements[4])
    return FrameError(message_id, PROTOCOL_ERROR, f"unknown message type {message_type}")


_STRINGS = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def _nested_too_deep(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # Cheap first: fewer openers than the limit cannot nest past it (almost every frame).
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return False
    depth = 0
    # Brackets inside strings do not nest; an unterminated string leaves its brackets in, which
    # can only over-count for a frame that is not valid JSON anyway.
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return True
        else:
            depth -= 1
    return False


# The head of a frame, `[<type>, "<message id>",`, read without decoding the rest.
_LEADING_ID = re.compile(r'\s*\[\s*[0-9]+\s*,\s*("(?:[^"\\]|\\.){0,%d}")\s*,' % (MAX_MESSAGE_ID_LENGTH * 6))


def _leading_message_id(text: str | bytes) -> str | None:
    """The message id of a frame that cannot be decoded whole, if its head is readable."""
    if isinstance(text, bytes):
        text = text[:512].decode("utf-8", errors="replace")
    match = _LEADING_ID.match(text)
    if match is None:
        return None
    try:
        message_id = _decode_str(match.group(1))
    except msgspec.DecodeError:
        return None
    return message_id if message_id and len(message_id) <= MAX_MESSAGE_ID_LENGTH else None


def _is_json(text: str | bytes) -> bool:
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError:
        return False
    return True


def _read_message_id(elements: list[msgspec.Raw]) -> str | None:
    if len(elements) < 2:
        return None
    try:
        message_id = _decode_str(elements[1])
    except msgspec.DecodeError:
        return None
    if not message_id or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return None
    return message_id


def call(message_id: str, action: str, payload: Any) -> str:
    return _encode([CALL, message_id, action, payload]).decode()


def call_json(message_id: str, action: str, payload_json: str) -> str:
    """A CALL around a payload already encoded (it is logged as that same text)."""
    return f"[{CALL},{_encode(message_id).decode()},{_encode(action).decode()},{payload_json}]"


def call_result(message_id: str, payload: Any) -> str:
    return _encode([CALLRESULT, message_id, payload]).decode()


def call_result_json(message_id: str, payload_json: str) -> str:
    """A CALLRESULT around a payload already encoded (it is logged as that same text)."""
    return f"[{CALLRESULT},{_encode(message_id).decode()},{payload_json}]"


def call_error(message_id: str, code: str, description: str, details: Any = None) -> str:
    return _encode([CALLERROR, message_id, code, description, details or {}]).decode()


def constraint_error_code(error: msgspec.ValidationError) -> str:
    """Map a payload validation failure to the OCPP-J error code it is (section 4.2.3)."""
    text = str(error)
    if text.startswith("Object missing required field"):
        return OCCURENCE_CONSTRAINT_VIOLATION
    if text.startswith("Expected `array` of length"):
        # A 1..* list sent empty breaks the field's cardinality, as a missing field does.
        return OCCURENCE_CONSTRAINT_VIOLATION
    if text.startswith("Object contains unknown field"):
        return FORMATION_VIOLATION
    if text.startswith("Expected `") and "`, got `" in text:
        # "Expected `object`, got `array`" at the root is a malformed payload, not a field type.
        return FORMATION_VIOLATION if text.endswith("`") and " - at `" not in text else TYPE_CONSTRAINT_VIOLATION
    if text.startswith("Invalid RFC3339"):
        return TYPE_CONSTRAINT_VIOLATION
    # Length, range, pattern and enum violations.
    return PROPERTY_CONSTRAINT_VIOLATION
