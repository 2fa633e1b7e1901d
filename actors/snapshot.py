"""A host's snapshot file: every station's state, encoded a chunk at a time so frames go on in between.

Encoding every state in one call stopped the host's loop for 35-46 ms at 20,000 stations and
100-300 ms at 50,000 at each segment rotation (BENCHMARKS.md section 8). `SnapshotEncoder`
encodes `count` states per call and the host awaits between calls, so a frame waits for one
chunk at most. Frames handled meanwhile change states not encoded yet: each state carries the
log sequence of the last event folded into it (`StationState.applied_seq`), and a restore
replays to each station only the events after its own entry (`covers`).

Format 1 (before issue 15) was one encode of every state exactly as of `last_seq`; it has no
`format` key and its states no `applied_seq`. `decode` migrates it: every state covers
`last_seq`, which is what format 1 meant. Format 2 files are one msgpack document too (the
same `Snapshot` map), written as a head and the states' encodings concatenated.
"""

from __future__ import annotations

import msgspec

from actors.station_state import StationState

FORMAT = 2


class Snapshot(msgspec.Struct, kw_only=True):
    """Every station's state; each covers at least every event up to `last_seq`."""

    last_seq: int
    # 1: every state exactly as of last_seq (files written before issue 15 have no key).
    format: int = 1
    # Last, so that a format-2 file is its head plus the states' encodings (SnapshotEncoder).
    stations: list[StationState]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


class SnapshotEncoder:
    """One snapshot of `states` (taken as `last_seq` was the log's last), encoded piecewise.

    The states are the live objects: one encoded after frames changed it is encoded as it is
    then, its `applied_seq` saying how far it got. Every event a state reflects is in the log
    when it is encoded; the caller makes them durable before writing `data()` anywhere.
    """

    def __init__(self, last_seq: int, states: list[StationState]) -> None:
        self.last_seq = last_seq
        self._states = states
        self._parts: list[bytes] = []

    def encode_next(self, count: int) -> bool:
        """Encode the next `count` states; whether any are left."""
        done = len(self._parts)
        encode = _encoder.encode
        self._parts += [encode(state) for state in self._states[done : done + count]]
        return len(self._parts) < len(self._states)

    def data(self) -> bytes:
        """The file's bytes (a copy of every part: call it off the loop for a large fleet)."""
        if len(self._parts) < len(self._states):
            raise RuntimeError("snapshot not fully encoded")
        empty = _encoder.encode(Snapshot(last_seq=self.last_seq, format=FORMAT, stations=[]))
        # msgspec writes fields in their order: the map ends with the empty `stations` array
        # (0x90); an array32 header (0xdd, big-endian count) and the parts take its place.
        assert empty[-1] == 0x90
        head = empty[:-1] + b"\xdd" + len(self._parts).to_bytes(4, "big")
        return b"".join([head, *self._parts])


def decode(data: bytes) -> Snapshot:
    """A snapshot file of any format, as format 2 (every state's `applied_seq` set)."""
    snapshot = _decoder.decode(data)
    if snapshot.format == 1:
        for state in snapshot.stations:
            state.applied_seq = snapshot.last_seq
    elif snapshot.format != FORMAT:
        raise ValueError(f"snapshot format {snapshot.format} is newer than this code ({FORMAT})")
    return snapshot


def covers(state: StationState, seq: int) -> bool:
    """Whether the event numbered `seq` is folded into `state` already (replay skips it)."""
    return seq <= state.applied_seq
