"""The HTTP contract between the CSMS and an external authorizer.

    POST {authorizer_url}
    Authorization: Bearer {CSMS_AUTHORIZER_TOKEN}        (when the variable is set)
    Content-Type: application/json

    {"id_tag": "04A2B3C4", "station_id": "CP-001"}

    200 {"status": "Accepted" | "Blocked" | "Expired" | "Invalid",
         "expiry_date": "2027-01-01T00:00:00Z" | null,   (optional)
         "parent_id_tag": "FLEET-7" | null}               (optional)

An unknown tag is a 200 with status "Invalid". Any other status code, or a body that is not
this object, means the downstream did not answer: 429 and 5xx (and connection errors and
timeouts) are retried with backoff while the deadline allows (a Retry-After of 429/503 is
honoured if it fits), any other 4xx is not retried. Requests are idempotent lookups, so
retrying is safe. Unknown fields in the answer are ignored, so the downstream may add some.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

DownstreamStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


class AuthorizationRequest(msgspec.Struct, frozen=True, kw_only=True):
    id_tag: str
    station_id: str


class AuthorizationAnswer(msgspec.Struct, frozen=True, kw_only=True):
    status: DownstreamStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


_answer_decoder = msgspec.json.Decoder(AuthorizationAnswer)
_encoder = msgspec.json.Encoder()


def encode_request(request: AuthorizationRequest) -> bytes:
    return _encoder.encode(request)


def decode_answer(body: bytes) -> AuthorizationAnswer:
    """The downstream's 200 body; raises msgspec.DecodeError/ValidationError when it is not one."""
    answer = _answer_decoder.decode(body)
    if answer.parent_id_tag is not None and len(answer.parent_id_tag) > 20:
        # It goes to stations as an OCPP 1.6 IdToken (CiString20).
        raise msgspec.ValidationError("parent_id_tag longer than 20 characters")
    return answer
