"""HostLink: one gateway replica's batched channel to one StationHost.

A Ray actor call costs about 1 to 2 ms of CPU, so one call per frame caps a replica near
1,500 frames/s (DESIGN.md, measured pitfalls). Requests queue here and leave as one call per
batch; while a batch is in flight the next one fills, so batches grow with load by themselves.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from ray.exceptions import RayActorError

from actors import directory
from actors.config import Config
from actors.host_protocol import Frame, HostReply, HostRequest, OutboundFrame, decode_replies, encode_requests

log = logging.getLogger("csms.host_link")

# A frame the host answered "deferred" waits for its reply, which comes with the outbound poll
# or a batch answer (BatchReply.outbound); if none came this long after the authorizer's
# deadline (an answer lost on the way), it is sent again.
DEFERRED_FALLBACK_MARGIN_S = 2.0
# Replies delivered before their batch's "deferred" came back, kept at most this many.
EARLY_REPLIES_KEPT = 1024

DeferredKey = tuple[str, str, int]


class HostUnavailable(Exception):
    """The host did not answer within the retry deadline (restarting too long, or stuck)."""


class HostLink:
    def __init__(self, host_name: str, config: Config) -> None:
        self.host_name = host_name
        self._config = config
        self._queue: list[tuple[HostRequest, asyncio.Future[HostReply]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._handle = None
        self.batches_sent = 0
        self.requests_sent = 0
        self._incarnation: str | None = None
        # Called when the host turns out to be a new incarnation (Ray recreated it).
        self.on_host_restart: Callable[[HostLink], None] | None = None
        # Called with the outbound frames a batch's answer took along (BatchReply.outbound).
        self.on_outbound: Callable[[HostLink, list[OutboundFrame]], None] | None = None
        # Frames the host answered "deferred": their waiter, and the fallback resend.
        self._deferred: dict[DeferredKey, tuple[HostRequest, asyncio.Future[HostReply], asyncio.TimerHandle]] = {}
        self._early: dict[DeferredKey, HostReply] = {}
        self._fallback_s = config.authorizer_deadline_s + DEFERRED_FALLBACK_MARGIN_S

    def observe_incarnation(self, incarnation: str) -> None:
        """Every answer from the host names its incarnation; a new one means Ray recreated it."""
        if incarnation != self._incarnation:
            restarted = self._incarnation is not None
            self._incarnation = incarnation
            if restarted:
                # The restarted host lost the decisions these frames waited for: ask again.
                for key in list(self._deferred):
                    self._resend_deferred(key)
                if self.on_host_restart is not None:
                    self.on_host_restart(self)

    def deliver(self, frame: OutboundFrame) -> None:
        """The late reply to a frame the host answered "deferred" (outbound poll or batch answer)."""
        assert frame.reply is not None
        key = (frame.station_id, frame.connection_id, frame.received_at_us)
        entry = self._deferred.pop(key, None)
        if entry is None:
            # Its batch's "deferred" has not come back yet: kept for it (bounded).
            if len(self._early) >= EARLY_REPLIES_KEPT:
                self._early.pop(next(iter(self._early)))
            self._early[key] = frame.reply
            return
        _request, future, timer = entry
        timer.cancel()
        if not future.done():
            future.set_result(frame.reply)

    def _defer(self, request: HostRequest, future: asyncio.Future[HostReply]) -> None:
        assert isinstance(request, Frame)
        key = (request.station_id, request.connection_id, request.received_at_us)
        early = self._early.pop(key, None)
        if early is not None:
            future.set_result(early)
            return
        previous = self._deferred.pop(key, None)
        if previous is not None:
            previous[2].cancel()
        timer = asyncio.get_running_loop().call_later(self._fallback_s, self._resend_deferred, key)
        self._deferred[key] = (request, future, timer)

    def _resend_deferred(self, key: DeferredKey) -> None:
        entry = self._deferred.pop(key, None)
        if entry is None:
            return
        request, future, timer = entry
        timer.cancel()
        if not future.done():
            # Safe: a frame answered "deferred" was not handled; the host decides it again.
            self._queue.append((request, future))
            self._wakeup.set()

    async def call(self, request: HostRequest) -> HostReply:
        future: asyncio.Future[HostReply] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[: self._config.host_batch_max]
                del self._queue[: len(batch)]
                try:
                    replies = await self._send([request for request, _ in batch])
                except Exception as exc:  # every waiter must learn the outcome
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (request, future), reply in zip(batch, replies):
                    if future.done():
                        continue
                    if reply.deferred:
                        # The host is still deciding this frame's id tag (external authorizer,
                        # bounded by its deadline): its reply is delivered later (deliver()).
                        self._defer(request, future)
                    else:
                        future.set_result(reply)

    async def _send(self, batch: list[HostRequest]) -> list[HostReply]:
        payload = encode_requests(batch)
        deadline = time.monotonic() + self._config.host_retry_deadline_s
        delay = 0.05
        while True:
            try:
                if self._handle is None:
                    try:
                        self._handle = directory.get_actor(self.host_name)
                    except ValueError as exc:  # not registered (yet, or again)
                        raise RayActorError() from exc
                ref = self._handle.process.remote(payload)
                data = await asyncio.wait_for(ref, self._config.host_call_timeout_s)
                self.batches_sent += 1
                self.requests_sent += len(batch)
                answer = decode_replies(data)
                self.observe_incarnation(answer.incarnation)
                if answer.outbound and self.on_outbound is not None:
                    # Before the replies: a late reply in it may be for a frame of this batch.
                    self.on_outbound(self, answer.outbound)
                return answer.replies
            except RayActorError as exc:
                # The host died or is restarting (Ray recreates it; it rebuilds from its log).
                # Resending is safe: every station message is answered idempotently.
                self._handle = None
                if time.monotonic() + delay > deadline:
                    raise HostUnavailable(f"{self.host_name} unavailable: {exc}") from exc
                log.warning("host unavailable, retrying", extra={"host": self.host_name, "retry_in_s": delay})
                await asyncio.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)
            except asyncio.TimeoutError as exc:
                # Not resent: a slow host may still process the batch.
                raise HostUnavailable(f"{self.host_name} did not answer in {self._config.host_call_timeout_s}s") from exc


def links_for(config: Config) -> dict[str, HostLink]:
    return {name: HostLink(name, config) for name in directory.host_names(config.resolved_station_hosts())}

