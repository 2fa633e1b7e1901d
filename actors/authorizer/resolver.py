"""One StationHost's external authorization: which frames need a decision, resolving them
concurrently (each bounded by the deadline), and what operators and metrics see of it.

The host asks `decision_for(...)` for each frame before its session handles it. Frames that
need no external decision get None and go ahead at once. For one that does, the first call
starts the decision in the background and returns its task; the host answers that frame
"deferred", asks again once the task is done, and delivers the reply through the gateway's
outbound poll. So other stations' frames never wait for a slow downstream, and a station's
own frames stay in order (the gateway sends a station's next frame only after this one is
answered).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import msgspec
from ray.util import metrics

from actors import ocppj
from actors.authorizer import decision as d
from actors.authorizer.breaker import BreakerState, BreakerStatus, CircuitBreaker
from actors.authorizer.cache import AnswerCache
from actors.authorizer.client import DownstreamClient, DownstreamCounters
from actors.config import Config
from actors.events import now_us
from actors.protocol import Protocol
from actors.protocols import DEFAULT_VERSION, PROTOCOLS
from actors.station_state import IdTagRecord
from actors.timestamps import to_us

log = logging.getLogger("csms.authorizer")

# The downstream's bearer token: from the environment only, never the config file or the repo.
TOKEN_ENVIRONMENT_VARIABLE = "CSMS_AUTHORIZER_TOKEN"
# Which actions' answers need a decision is each version's (StationAction.authorization):
# "decide" (1.6 Authorize, StartTransaction: sections 4.1, 4.8) asks the downstream; "cache"
# (1.6 StopTransaction, whose idTagInfo is only informative, 4.10) is never worth a wait, but
# a tag the downstream accepted must not be called Invalid there (stations may cache what
# they are told), so it is answered from a cached downstream answer when there is one.
# A decision whose frame never came back for it (the socket closed) is dropped after this.
UNCLAIMED_DECISION_TTL_S = 60.0

# A frame's identity, the same when the gateway sends it again: station id, connection id,
# receive time. Looking it up first spares re-parsing frames that are still waiting.
PendingKey = tuple[str, str, int]


def check_settings(config: Config) -> None:
    """Refuse a configuration the authorizer cannot work with, before any host starts on it."""
    if not config.authorizer_url:
        return
    try:
        url = urlsplit(config.authorizer_url)
        host = url.hostname
    except ValueError:
        url, host = None, None
    # Named without the URL itself: it may carry credentials.
    if url is None or url.scheme not in ("http", "https") or not host:
        raise ValueError("invalid CSMS configuration: authorizer_url must be an http:// or https:// URL")


class AuthorizationStatus(msgspec.Struct, kw_only=True):
    """What GET /api/authorization shows for one host."""

    host: str
    enabled: bool
    mode: str | None = None
    policy: str | None = None
    breaker: BreakerStatus | None = None
    cache_size: int = 0
    cache_capacity: int = 0
    decisions_pending: int = 0
    decisions: dict[str, int] = {}
    downstream: DownstreamCounters | None = None


class Authorizer:
    def __init__(self, config: Config, host: str, token: str | None = None,
                 clock_us: Callable[[], int] = now_us) -> None:
        check_settings(config)
        self.host = host
        # The wall clock the answer cache's ages and expiries are read against (injected by tests).
        self._clock_us = clock_us
        self.mode = config.authorizer_mode
        self.policy: d.Policy = config.authorizer_policy
        self.deadline_s = config.authorizer_deadline_s
        self.cache = AnswerCache(config.authorizer_cache_size, config.authorizer_cache_max_age_s)
        self.breaker = CircuitBreaker(config.authorizer_breaker_failures, config.authorizer_breaker_cooldown_s,
                                      on_change=self._breaker_changed)
        self.client = DownstreamClient(
            config.authorizer_url,
            token if token is not None else os.environ.get(TOKEN_ENVIRONMENT_VARIABLE),
            deadline_s=config.authorizer_deadline_s,
            attempt_timeout_s=config.authorizer_attempt_timeout_s,
            backoff_s=config.authorizer_backoff_s,
            breaker=self.breaker,
        )
        self.decisions: dict[str, int] = {}
        self._pending: dict[PendingKey, asyncio.Task[d.AuthorizationDecision]] = {}
        self._done_at: dict[PendingKey, float] = {}
        self._breaker_gauge = metrics.Gauge(
            "csms_authorizer_breaker_open", description="1 while the external authorizer's circuit breaker is "
            "not closed (open or half-open), else 0", tag_keys=("host",))
        self._breaker_gauge.set(0, tags={"host": host})
        self._decision_counter = metrics.Counter(
            "csms_authorization_decisions", description="External authorization decisions by source "
            "(local, cache, downstream, or the policy applied)", tag_keys=("host", "source"))

    # --- which frames need a decision ------------------------------------------------------

    def wanted(self, text: str, local: Mapping[str, IdTagRecord],
               protocol: Protocol = PROTOCOLS[DEFAULT_VERSION]) -> tuple[str, str, str] | None:
        """(action, message id, normalised id tag) when this frame's answer needs a decision
        beyond the local table."""
        # Cheap test first: almost every frame is something else.
        if not any(marker in text for marker in protocol.authorization_markers):
            return None
        frame = ocppj.parse_frame(text)
        entry = protocol.actions.get(frame.action) if isinstance(frame, ocppj.Call) else None
        if entry is None or entry.authorization is None:
            return None
        try:
            request = protocol.decode_request(frame.action, bytes(frame.payload))
        except msgspec.ValidationError:
            return None  # the session answers it with a CALLERROR
        id_tag = protocol.id_token(request)
        if id_tag is None:  # e.g. a StopTransaction without an identifier
            return None
        if (self.mode == "unknown_only" or entry.authorization == "cache") and id_tag in local:
            return None
        return frame.action, frame.message_id, id_tag

    def decision_for(self, station_id: str, connection_id: str, received_at_us: int, text: str,
                     local: Mapping[str, IdTagRecord], protocol: Protocol = PROTOCOLS[DEFAULT_VERSION],
                     ) -> d.AuthorizationDecision | asyncio.Task | None:
        """None: no external decision needed. A task: still deciding (ask again with the same
        frame). A decision: hand it to the session with the frame."""
        key = (station_id, connection_id, received_at_us)
        task = self._pending.get(key)
        if task is None:
            wanted = self.wanted(text, local, protocol)
            if wanted is None:
                return None
            action, _message_id, id_tag = wanted
            if protocol.actions[action].authorization == "cache":
                cached = self.cache.lookup(id_tag, self._clock_us())
                return None if cached is None else d.from_cache(id_tag, cached)
            task = asyncio.get_running_loop().create_task(self.decide(id_tag, station_id, local))
            self._pending[key] = task
            task.add_done_callback(lambda _t, key=key: self._decided(key))
            return task
        if not task.done():
            return task
        del self._pending[key]
        self._done_at.pop(key, None)
        return task.result()

    # --- deciding --------------------------------------------------------------------------

    async def decide(self, id_tag: str, station_id: str, local: Mapping[str, IdTagRecord]) -> d.AuthorizationDecision:
        """Never raises and never takes (much) longer than the deadline."""
        try:
            # The client keeps to the deadline by itself; this bounds a bug or a stuck resolver.
            result = await asyncio.wait_for(self.client.authorize(id_tag, station_id), self.deadline_s + 0.5)
            outcome, answer = result.outcome, result.answer
        except asyncio.TimeoutError:
            outcome, answer = "unavailable", None
        except Exception:
            log.exception("external authorization failed", extra={"host": self.host})
            outcome, answer = "unavailable", None
        now = self._clock_us()
        if answer is not None:
            record = IdTagRecord(
                status=answer.status,
                expiry_us=to_us(answer.expiry_date) if answer.expiry_date is not None else None,
                parent_id_tag=answer.parent_id_tag,
            )
            self.cache.store(id_tag, record, now)
            decision = d.answered(id_tag, record)
        else:
            decision = d.without_downstream(id_tag, outcome, self.policy, local.get(id_tag),
                                            self.cache.lookup(id_tag, now))
        self.decisions[decision.source] = self.decisions.get(decision.source, 0) + 1
        self._decision_counter.inc(1, tags={"host": self.host, "source": decision.source})
        if decision.source != "downstream":
            log.info("id tag decided without the downstream",
                     extra={"host": self.host, "station_id": station_id, "source": decision.source,
                            "downstream": decision.downstream})
        return decision

    # --- housekeeping and status ----------------------------------------------------------

    def _decided(self, key: PendingKey) -> None:
        if key in self._pending:  # not yet claimed: its frame may still come back for it
            self._done_at[key] = time.monotonic()

    def sweep(self) -> int:
        """Drop decisions nobody came back for (their station disconnected); how many went."""
        cutoff = time.monotonic() - UNCLAIMED_DECISION_TTL_S
        stale = [key for key, at in self._done_at.items() if at < cutoff]
        for key in stale:
            self._pending.pop(key, None)
            del self._done_at[key]
        return len(stale)

    def status(self) -> AuthorizationStatus:
        return AuthorizationStatus(
            host=self.host, enabled=True, mode=self.mode, policy=self.policy,
            breaker=self.breaker.status(), cache_size=len(self.cache), cache_capacity=self.cache.capacity,
            decisions_pending=sum(1 for t in self._pending.values() if not t.done()),
            decisions=dict(self.decisions), downstream=msgspec.structs.replace(self.client.counters),
        )

    async def close(self) -> None:
        for task in self._pending.values():
            task.cancel()
        await self.client.close()

    def _breaker_changed(self, state: BreakerState) -> None:
        self._breaker_gauge.set(0 if state == "closed" else 1, tags={"host": self.host})
        level = logging.INFO if state != "open" else logging.WARNING
        log.log(level, "external authorizer circuit breaker %s", state,
                extra={"host": self.host, "breaker": state, "failures": self.breaker.consecutive_failures})
