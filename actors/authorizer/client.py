"""The HTTP client for one external authorizer: a timeout on every attempt, retries with
exponential backoff and jitter within one total deadline, and a circuit breaker in front.

The deadline is short (seconds) because a driver stands at the charger and the station waits
for our Authorize or StartTransaction answer; whatever is left when it runs out is decided by
the policy (decision.py), never by waiting longer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import aiohttp
import msgspec

from actors.authorizer.breaker import CircuitBreaker
from actors.authorizer.contract import AuthorizationAnswer, AuthorizationRequest, decode_answer, encode_request
from actors.authorizer.decision import DownstreamOutcome

log = logging.getLogger("csms.authorizer")

# An answer is a small JSON object; anything bigger is not one (and must not fill memory).
MAX_ANSWER_BYTES = 16 * 1024
# Not worth starting an attempt with less time than this left.
MIN_ATTEMPT_S = 0.01


class DownstreamCounters(msgspec.Struct, kw_only=True):
    """Totals since the host started, for the operator API."""

    requests: int = 0  # authorize() calls
    attempts: int = 0  # HTTP requests sent
    retries: int = 0
    answered: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    server_errors: int = 0  # 5xx
    throttled: int = 0  # 429
    refused: int = 0  # other 4xx, or a body outside the contract
    fast_failures: int = 0  # not sent: the breaker was open


class DownstreamResult(msgspec.Struct, frozen=True, kw_only=True):
    outcome: DownstreamOutcome
    answer: AuthorizationAnswer | None = None
    attempts: int = 0


class _Retryable(Exception):
    def __init__(self, retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s


class _Refused(Exception):
    pass


class DownstreamClient:
    def __init__(self, url: str, token: str | None, *, deadline_s: float, attempt_timeout_s: float,
                 backoff_s: float, breaker: CircuitBreaker,
                 clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:
        self.url = url
        self.deadline_s = deadline_s
        self.attempt_timeout_s = attempt_timeout_s
        self.backoff_s = backoff_s
        self.breaker = breaker
        self.counters = DownstreamCounters()
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._clock = clock
        self._jitter = jitter
        self._session: aiohttp.ClientSession | None = None

    async def authorize(self, id_tag: str, station_id: str) -> DownstreamResult:
        """The downstream's answer for `id_tag`, or why there is none, within the deadline."""
        self.counters.requests += 1
        body = encode_request(AuthorizationRequest(id_tag=id_tag, station_id=station_id))
        deadline = self._clock() + self.deadline_s
        attempts = 0
        outcome: DownstreamOutcome = "unavailable"
        while True:
            remaining = deadline - self._clock()
            if remaining < MIN_ATTEMPT_S:
                return DownstreamResult(outcome=outcome, attempts=attempts)
            if not self.breaker.allow():
                if attempts == 0:
                    self.counters.fast_failures += 1
                    outcome = "breaker_open"
                return DownstreamResult(outcome=outcome, attempts=attempts)
            attempts += 1
            if attempts > 1:
                self.counters.retries += 1
            try:
                answer = await self._attempt(body, min(self.attempt_timeout_s, remaining))
            except _Refused:
                return DownstreamResult(outcome="refused", attempts=attempts)
            except _Retryable as failure:
                delay = self.backoff_s * 2 ** (attempts - 1) * (0.5 + self._jitter() / 2)
                if failure.retry_after_s is not None:
                    delay = max(delay, failure.retry_after_s)
                if self._clock() + delay + MIN_ATTEMPT_S > deadline:
                    return DownstreamResult(outcome=outcome, attempts=attempts)
                await asyncio.sleep(delay)
                continue
            return DownstreamResult(outcome="answered", answer=answer, attempts=attempts)

    async def _attempt(self, body: bytes, timeout_s: float) -> AuthorizationAnswer:
        """One HTTP request; every way it can end is recorded with the breaker exactly once."""
        self.counters.attempts += 1
        recorded = False
        try:
            status, payload, retry_after = await self._post(body, timeout_s)
            if status == 200:
                try:
                    answer = decode_answer(payload)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.counters.refused += 1
                    self.breaker.record_failure()
                    recorded = True
                    log.warning("authorizer answer outside the contract", extra={"error": str(exc)[:200]})
                    raise _Refused() from None
                self.counters.answered += 1
                self.breaker.record_success()
                recorded = True
                return answer
            self.breaker.record_failure()
            recorded = True
            if status == 429 or status >= 500:
                if status == 429:
                    self.counters.throttled += 1
                else:
                    self.counters.server_errors += 1
                log.debug("authorizer failed, retryable", extra={"status": status})
                raise _Retryable(retry_after)
            self.counters.refused += 1
            log.warning("authorizer refused the request; not retried", extra={"status": status})
            raise _Refused()
        except asyncio.TimeoutError:
            self.counters.timeouts += 1
            self.breaker.record_failure()
            recorded = True
            raise _Retryable() from None
        except aiohttp.ClientError as exc:
            self.counters.connection_errors += 1
            self.breaker.record_failure()
            recorded = True
            log.debug("authorizer unreachable", extra={"error": type(exc).__name__})
            raise _Retryable() from None
        finally:
            if not recorded:  # cancelled (host stopping) or a bug: never leave a probe hanging
                self.breaker.record_failure()

    async def _post(self, body: bytes, timeout_s: float) -> tuple[int, bytes, float | None]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with self._session.post(self.url, data=body, headers=self._headers, timeout=timeout,
                                      allow_redirects=False) as response:
            if response.status != 200:
                return response.status, b"", _retry_after_s(response.headers.get("Retry-After"))
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(4096):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    return 200, b"", None  # decodes as outside the contract
                chunks.append(chunk)
            return 200, b"".join(chunks), None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110 section 10.2.3: delay-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
