"""How a gateway replica records that a station's socket ended: logged once, told to the host once.

With direct ingress Serve used to watch each websocket's receive channel itself and cancel
the handler's task as soon as the disconnect arrived, often while the handler was in its
`finally` awaiting the host (the gateway now asks it not to, serve_app/keepalive.py, but a
replica's shutdown still cancels handlers). A log line after that await was then never written (a fleet
probe saw 2,538 "station connected" lines and 149 "station disconnected"), and the host's
Disconnect could be lost with it. So the line is written before anything is awaited, and the
host call runs in a task of its own that the handler's cancellation does not reach.
"""

from __future__ import annotations

import asyncio
import logging

from actors.host_protocol import Disconnect
from serve_app.host_link import HostLink, HostUnavailable

log = logging.getLogger("csms.gateway")

# Tasks still telling their host; held so they are not garbage-collected mid-flight.
_in_flight: set[asyncio.Task] = set()


async def record(link: HostLink, disconnect: Disconnect) -> None:
    log.info("station disconnected", extra={
        "station_id": disconnect.station_id, "connection_id": disconnect.connection_id,
        "code": disconnect.close_code, "reason": disconnect.close_reason})
    task = asyncio.get_running_loop().create_task(_tell_host(link, disconnect))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
    await asyncio.shield(task)


async def _tell_host(link: HostLink, disconnect: Disconnect) -> None:
    try:
        await link.call(disconnect)
    except HostUnavailable:
        log.warning("disconnect not recorded: host unavailable", extra={"station_id": disconnect.station_id})
