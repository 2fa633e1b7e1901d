"""A real StationHost in the test's own process (no Ray: the host is a plain object), and a station talking to it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from actors.config import Config
from actors.host_protocol import Connect, Frame, HostReply, decode_replies, encode_requests
from actors.station_host import StationHost

HOST = "station-host-0"


def local_host(data_root: Path, **config) -> StationHost:
    host = StationHost(HOST, Config(data_root=str(data_root), wal_segment_max_age_s=3600, station_hosts=1, **config))
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    host._started = done  # no id-tag registry actor here: the table is what the test sets
    return host


def close(host: StationHost) -> None:
    if host._background is not None:
        host._background.cancel()
    host.log.close()


class LocalStation:
    """One station's connection to a local host; `clock_us` stamps its frames."""

    def __init__(self, host: StationHost, station_id: str, connection_id: str = "test-1",
                 connected_at_us: int = 1_800_000_000_000_000) -> None:
        self.host, self.station_id = host, station_id
        self.connection_id, self.connected_at_us = connection_id, connected_at_us
        self.clock_us = connected_at_us

    def connect_request(self, password: bytes, ocpp_version: str = "1.6") -> Connect:
        return Connect(self.station_id, self.connection_id, self.connected_at_us, password, ocpp_version=ocpp_version)

    def frame(self, frame: list | str) -> Frame:
        self.clock_us += 1000
        text = frame if isinstance(frame, str) else json.dumps(frame)
        return Frame(self.station_id, self.connection_id, self.connected_at_us, text, self.clock_us)


async def batch(host: StationHost, requests: list) -> list[HostReply]:
    return decode_replies(await host.process(encode_requests(requests))).replies


async def call(host: StationHost, station: LocalStation, frame: list | str) -> list:
    [reply] = await batch(host, [station.frame(frame)])
    return json.loads(reply.replies[0])
