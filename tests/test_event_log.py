"""The write-ahead log: numbering, group commit, crash recovery, rotation."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from actors.event_log import CorruptLogError, EventLog, Segment, segment_name
from actors.events import Event

BIG = 1 << 40  # segment limits that never trigger


def ev(i: int, station: str = "CP-1") -> Event:
    return Event(
        station_id=station,
        received_at_us=1_700_000_000_000_000 + i,
        direction="in",
        message_type="CALL",
        message_id=f"m{i}",
        action="Heartbeat",
        payload="{}",
    )


def open_log(d: Path, **kw) -> EventLog:
    kw.setdefault("segment_max_bytes", BIG)
    kw.setdefault("segment_max_age_s", BIG)
    return EventLog(d, **kw)


def ids(log: EventLog, after: int = 0) -> list[tuple[int, str]]:
    return [(seq, e.message_id) for seq, e in log.replay(after)]


async def test_append_commit_replay_round_trip(tmp_path):
    log = open_log(tmp_path / "wal")
    assert log.append([ev(1), ev(2)]) == 2
    assert log.append([ev(3)]) == 3
    assert log.durable_seq == 0
    await log.commit()
    assert log.durable_seq == 3
    assert [(s, e) for s, e in log.replay()] == [(1, ev(1)), (2, ev(2)), (3, ev(3))]
    assert ids(log, after=2) == [(3, "m3")]
    log.close()
    reopened = open_log(tmp_path / "wal")
    assert [(s, e) for s, e in reopened.replay()] == [(1, ev(1)), (2, ev(2)), (3, ev(3))]
    reopened.close()


async def test_private_field_survives_in_the_log(tmp_path):
    secret = Event(
        station_id="CP-1", received_at_us=1, direction="system", message_type="SESSION",
        message_id="", action="StationRegistered", payload="{}", private="hash$salt",
    )
    log = open_log(tmp_path)
    log.append([secret])
    log.close()
    assert [e.private for _, e in open_log(tmp_path).replay()] == ["hash$salt"]


async def test_seq_continues_after_reopen(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(i) for i in range(5)])
    await log.commit()
    log.close()
    log = open_log(tmp_path)
    assert log.last_seq == 5
    assert log.append([ev(5)]) == 6
    await log.commit()
    log.close()
    log = open_log(tmp_path)
    assert [s for s, _ in log.replay()] == [1, 2, 3, 4, 5, 6]
    assert log.append([ev(6)]) == 7
    log.close()


async def test_seq_continues_after_every_segment_was_removed(tmp_path):
    # The active segment's name keeps the next seq on disk, so numbering never restarts
    # (a restart at 1 would make replay(after_seq=snapshot) skip new events).
    log = open_log(tmp_path)
    log.append([ev(i) for i in range(4)])
    log.rotate()
    for seg in log.sealed_segments():
        log.remove_segment(seg)
    log.close()
    log = open_log(tmp_path)
    assert log.last_seq == 4
    assert list(log.replay()) == []
    assert log.append([ev(9)]) == 5
    log.close()


async def test_unclosed_log_keeps_committed_events(tmp_path):
    # Simulates a process kill: no close(), only what commit() made durable counts.
    log = open_log(tmp_path)
    log.append([ev(1), ev(2)])
    await log.commit()
    os.close(log._fd)  # drop the descriptor the way a dying process would
    log._fd = None
    reopened = open_log(tmp_path)
    assert ids(reopened) == [(1, "m1"), (2, "m2")]
    reopened.close()


async def test_commit_with_nothing_new_does_not_fsync(tmp_path):
    log = open_log(tmp_path)
    await log.commit()
    assert log.stats()["fsyncs"] == 0
    log.append([ev(1)])
    await log.commit()
    await log.commit()
    assert log.stats()["fsyncs"] == 1
    log.close()


async def test_concurrent_commits_share_fsyncs(tmp_path):
    log = open_log(tmp_path)
    callers = 200

    async def one(i: int) -> int:
        seq = log.append([ev(i)])
        await log.commit()
        # Everything this caller appended is durable when its commit returns.
        assert log.durable_seq >= seq
        return seq

    seqs = await asyncio.gather(*(one(i) for i in range(callers)))
    assert sorted(seqs) == list(range(1, callers + 1))
    stats = log.stats()
    assert stats["records_committed"] == callers
    # All callers append before the first fsync starts: one fsync covers them all, at
    # most a follow-up for stragglers.
    assert stats["fsyncs"] <= 2, stats
    assert stats["last_fsync_latency_s"] > 0
    log.close()


async def test_commits_arriving_during_an_fsync_share_one_follow_up(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(0)])
    first = asyncio.ensure_future(log.commit())
    while log._buf:  # yield until the first flush has taken the buffer and is fsyncing
        await asyncio.sleep(0)
    assert log._flight is not None
    late = []
    for i in range(1, 51):
        log.append([ev(i)])
        late.append(asyncio.ensure_future(log.commit()))
    await asyncio.gather(first, *late)
    assert log.stats()["fsyncs"] == 2
    assert log.durable_seq == 51
    log.close()


async def test_cancelled_committer_does_not_cancel_the_shared_fsync(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(1)])
    a = asyncio.ensure_future(log.commit())
    b = asyncio.ensure_future(log.commit())
    await asyncio.sleep(0)
    a.cancel()
    await b
    assert log.durable_seq == 1
    with pytest.raises(asyncio.CancelledError):
        await a
    log.close()


def _record_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += 8 + int.from_bytes(data[pos : pos + 4], "little")
    return offsets


def _only_segment(d: Path) -> Path:
    (path,) = [p for p in d.iterdir() if p.stat().st_size > 0]
    return path


async def test_torn_tail_is_truncated_and_earlier_records_survive(tmp_path):
    src = tmp_path / "src"
    log = open_log(src)
    log.append([ev(i) for i in range(1, 6)])
    log.close()
    seg = _only_segment(src)
    full = seg.read_bytes()
    last_start = _record_offsets(seg)[-1]
    # A crash can cut the last write at any byte.
    for cut in range(last_start, len(full)):
        d = tmp_path / f"cut{cut}"
        shutil.copytree(src, d)
        (d / seg.name).write_bytes(full[:cut])
        log = open_log(d)
        assert ids(log) == [(i, f"m{i}") for i in range(1, 5)], cut
        assert (d / seg.name).stat().st_size == last_start
        assert log.stats()["truncated_bytes_at_open"] == cut - last_start
        # The lost (never acknowledged) seq 5 is reused; the log continues cleanly.
        assert log.append([ev(50)]) == 5
        await log.commit()
        log.close()
        assert ids(open_log(d))[-1] == (5, "m50")


async def test_crc_mismatch_at_the_tail_is_truncated(tmp_path, caplog):
    log = open_log(tmp_path)
    log.append([ev(i) for i in range(1, 4)])
    log.close()
    seg = _only_segment(tmp_path)
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF
    seg.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        log = open_log(tmp_path)
    assert "CRC mismatch" in caplog.text
    assert ids(log) == [(1, "m1"), (2, "m2")]
    log.close()


async def test_zero_filled_tail_is_truncated(tmp_path):
    # Blocks allocated but never written before a power loss read back as zeros.
    log = open_log(tmp_path)
    log.append([ev(1)])
    log.close()
    seg = _only_segment(tmp_path)
    seg.write_bytes(seg.read_bytes() + bytes(4096))
    log = open_log(tmp_path)
    assert ids(log) == [(1, "m1")]
    log.close()


async def test_corruption_inside_a_sealed_segment_raises(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(i) for i in range(1, 6)])
    sealed = log.rotate()
    log.append([ev(6)])
    log.close()
    data = bytearray(sealed.path.read_bytes())
    middle = _record_offsets(sealed.path)[2]
    data[middle + 10] ^= 0xFF
    sealed.path.write_bytes(bytes(data))
    with pytest.raises(CorruptLogError, match="CRC mismatch"):
        open_log(tmp_path)


async def test_truncated_sealed_segment_raises(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(i) for i in range(1, 6)])
    sealed = log.rotate()
    log.append([ev(6)])
    log.close()
    sealed.path.write_bytes(sealed.path.read_bytes()[:-3])
    with pytest.raises(CorruptLogError, match="sealed segment"):
        open_log(tmp_path)


async def test_corruption_found_during_replay_raises(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(i) for i in range(1, 6)])
    sealed = log.rotate()
    data = bytearray(sealed.path.read_bytes())
    data[_record_offsets(sealed.path)[1] + 9] ^= 0x01
    sealed.path.write_bytes(bytes(data))
    with pytest.raises(CorruptLogError):
        list(log.replay())
    log.close()


async def test_rotation_by_size(tmp_path):
    log = open_log(tmp_path, segment_max_bytes=200)
    rotated = 0
    for i in range(1, 21):
        log.append([ev(i)])
        rotated += log.maybe_rotate()
    log.close()
    segs = open_log(tmp_path).sealed_segments()
    assert rotated >= 3
    assert all(s.path.stat().st_size >= 200 for s in segs[:rotated])
    # Segments tile the sequence space in order, each named after its first seq.
    assert [s.first_seq for s in segs][0] == 1
    for a, b in zip(segs, segs[1:]):
        assert b.first_seq == a.last_seq + 1
    assert segs[-1].last_seq == 20
    assert all(s.path.name == segment_name(s.first_seq) for s in segs)


async def test_rotation_by_age_of_the_oldest_record(tmp_path):
    now = [1000.0]
    log = open_log(tmp_path, segment_max_age_s=60, clock=lambda: now[0])
    assert not log.maybe_rotate()  # nothing to seal
    now[0] += 3600
    assert not log.maybe_rotate()  # an idle empty segment is never sealed
    log.append([ev(1)])
    now[0] += 59
    assert not log.maybe_rotate()
    log.append([ev(2)])
    now[0] += 1
    assert log.maybe_rotate()
    assert log.sealed_segments() == [Segment(tmp_path / segment_name(1), 1, 2)]
    assert not log.maybe_rotate()
    log.append([ev(3)])
    assert ids(log) == [(1, "m1"), (2, "m2"), (3, "m3")]
    log.close()


async def test_sealed_segment_is_durable_and_commit_after_rotate_works(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(1), ev(2)])
    sealed = log.rotate()
    assert sealed == Segment(tmp_path / segment_name(1), 1, 2)
    assert log.durable_seq == 2  # sealing fsyncs
    assert log.rotate() is None  # empty active segment: nothing to seal
    log.append([ev(3)])
    await log.commit()
    assert log.durable_seq == 3
    assert ids(log, after=1) == [(2, "m2"), (3, "m3")]
    log.close()


async def test_rotate_while_an_fsync_is_in_flight(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(1)])
    pending = asyncio.ensure_future(log.commit())
    while log._buf:  # yield until that fsync is running on a dup of the descriptor
        await asyncio.sleep(0)
    log.append([ev(2)])
    log.rotate()  # closes the descriptor the in-flight fsync was started on
    log.append([ev(3)])
    await asyncio.gather(pending, log.commit())
    assert log.durable_seq == 3
    log.close()
    assert ids(open_log(tmp_path)) == [(1, "m1"), (2, "m2"), (3, "m3")]


async def test_remove_segment_deletes_only_that_segment(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(1)])
    first = log.rotate()
    log.append([ev(2)])
    second = log.rotate()
    log.append([ev(3)])
    log.remove_segment(first)
    assert not first.path.exists()
    assert log.sealed_segments() == [second]
    assert ids(log) == [(2, "m2"), (3, "m3")]
    with pytest.raises(ValueError):
        log.remove_segment(first)
    log.close()
    reopened = open_log(tmp_path)
    assert ids(reopened) == [(2, "m2"), (3, "m3")]
    assert reopened.append([ev(4)]) == 4
    reopened.close()


async def test_reopen_seals_what_a_previous_process_wrote(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(1), ev(2)])
    log.close()
    log = open_log(tmp_path)
    assert log.sealed_segments() == [Segment(tmp_path / segment_name(1), 1, 2)]
    log.close()
    # Reopening with nothing new does not pile up empty segments.
    log = open_log(tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    log.close()


async def test_failed_append_leaves_numbering_intact(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(1)])
    with pytest.raises(TypeError):
        log.append([ev(2), object()])  # type: ignore[list-item]
    assert log.append([ev(3)]) == 2
    assert ids(log) == [(1, "m1"), (2, "m3")]
    log.close()


async def test_read_segment_returns_exactly_one_sealed_segment(tmp_path):
    log = open_log(tmp_path)
    log.append([ev(1), ev(2)])
    first = log.rotate()
    log.append([ev(3)])
    second = log.rotate()
    log.append([ev(4)])
    got = await asyncio.to_thread(log.read_segment, second)
    assert [(s, e.message_id) for s, e in got] == [(3, "m3")]
    assert [s for s, _ in log.read_segment(first)] == [1, 2]
    with pytest.raises(ValueError):
        log.read_segment(Segment(tmp_path / segment_name(4), 4, 4))  # the active one
    log.close()
