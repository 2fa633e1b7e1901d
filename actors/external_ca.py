"""The HTTP hook to an external certificate authority: POST a station's CSR, get its certificate chain.

OCPP 1.6 security whitepaper A02.FR.04: the Central System SHOULD NOT sign itself but forward
the CSR to a dedicated CA server. The contract (JSON both ways, docs/security.md):

    POST <station_ca_url>   {"station_id": "CP-1", "csr": "-----BEGIN CERTIFICATE REQUEST-----..."}
    200                     {"certificate_chain": "-----BEGIN CERTIFICATE-----..."}   (leaf first)

One attempt with a timeout, never retried: a CA that received the request may have issued a
certificate, so a second POST is not idempotent (whitepaper A02, error handling: an operator
re-runs the renewal, the station does not retry). The bearer token comes from the environment
variable CSMS_STATION_CA_TOKEN only, and is never logged.
"""

from __future__ import annotations

import os

import aiohttp
import msgspec

TOKEN_ENV = "CSMS_STATION_CA_TOKEN"
# A chain of a few certificates; anything much bigger is not one.
MAX_ANSWER_BYTES = 64 * 1024


class SigningRequest(msgspec.Struct, frozen=True):
    station_id: str
    csr: str


class SigningAnswer(msgspec.Struct, frozen=True):
    certificate_chain: str


class ExternalCaFailed(Exception):
    """The external CA gave no chain: unreachable, timed out, refused, or answered off contract."""


async def request_chain(session: aiohttp.ClientSession, url: str, station_id: str, csr_pem: str,
                        timeout_s: float) -> str:
    """The chain the external CA issued for the CSR; ExternalCaFailed with the reason otherwise."""
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = msgspec.json.encode(SigningRequest(station_id=station_id, csr=csr_pem))
    try:
        async with session.post(url, data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            data = await response.content.read(MAX_ANSWER_BYTES + 1)
            if response.status != 200:
                raise ExternalCaFailed(f"the external CA answered HTTP {response.status}")
    except TimeoutError as exc:  # asyncio.TimeoutError is TimeoutError on 3.11
        raise ExternalCaFailed(f"the external CA did not answer within {timeout_s} s") from exc
    except aiohttp.ClientError as exc:
        raise ExternalCaFailed(f"the external CA could not be reached ({type(exc).__name__})") from exc
    if len(data) > MAX_ANSWER_BYTES:
        raise ExternalCaFailed(f"the external CA's answer is over {MAX_ANSWER_BYTES} bytes")
    try:
        return msgspec.json.decode(data, type=SigningAnswer).certificate_chain
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ExternalCaFailed(f"the external CA's answer is off contract ({exc})") from exc
