"""The write-ahead log of one StationHost: numbered events in CRC-framed segment files, group-committed."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from actors.durable_file import fsync_dir
from actors.events import Event, decode_event, encode_event

log = logging.getLogger("csms.event_log")

# Record framing: u32 LE body length, u32 LE CRC32 of the body, then the msgpack body.
_HEADER = struct.Struct("<II")
_HEADER_SIZE = _HEADER.size
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from
# A body longer than this can only be a garbled length field (frames are capped far lower).
_MAX_BODY = 64 * 1024 * 1024

_PREFIX = "segment-"
_SUFFIX = ".wal"


class CorruptLogError(Exception):
    """A record that was once durable is unreadable: refuse to guess (never skip events)."""


class CommitFailed(OSError):
    """Writing or fsyncing the active segment failed (e.g. ENOSPC): nothing more is acknowledged.

    Its message names the step and the operating system's error, which is also its cause."""


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    first_seq: int
    last_seq: int


def segment_name(first_seq: int) -> str:
    return f"{_PREFIX}{first_seq:020d}{_SUFFIX}"


def _parse_name(name: str) -> int | None:
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    digits = name[len(_PREFIX) : -len(_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def _scan(data: bytes | memoryview) -> tuple[list[tuple[int, int]], int, str | None]:
    """Walk the records of a segment image.

    Returns the (start, end) body offsets of every valid record, the offset just past the
    last valid record, and why the scan stopped early (None if it reached the end cleanly).
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    size = len(data)
    crc32 = zlib.crc32
    while pos < size:
        if size - pos < _HEADER_SIZE:
            return spans, pos, f"truncated header at byte {pos}"
        length, crc = _unpack_header(data, pos)
        start = pos + _HEADER_SIZE
        end = start + length
        # Length 0 is rejected explicitly: a zero-filled region (blocks allocated but never
        # written before a crash) would otherwise parse as empty records with CRC 0.
        if length == 0 or length > _MAX_BODY:
            return spans, pos, f"implausible record length {length} at byte {pos}"
        if end > size:
            return spans, pos, f"truncated record at byte {pos}"
        if crc32(data[start:end]) != crc:
            return spans, pos, f"CRC mismatch in record at byte {pos}"
        spans.append((start, end))
        pos = end
    return spans, pos, None


class EventLog:
    """Append-only, group-committed log of events with consecutive sequence numbers from 1.

    Not thread-safe: use it from one event loop (the StationHost's). Only fsync runs in a
    worker thread. Files: every `segment-<first_seq>.wal` but the newest is sealed (fully
    fsync'd, closed, immutable) and may be flushed to the lake and removed; the newest is
    the active segment and always exists, so its name keeps the next sequence number on
    disk even when every older segment has been removed.
    """

    def __init__(
        self,
        directory: Path,
        segment_max_bytes: int,
        segment_max_age_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_fsync: Callable[[float], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.segment_max_bytes = segment_max_bytes
        self.segment_max_age_s = segment_max_age_s
        self._clock = clock
        # Told each fsync's latency in seconds (metrics); must be cheap and must not raise.
        self._on_fsync = on_fsync
        self.directory.mkdir(parents=True, exist_ok=True)
        # The log directory's own entry must be durable too (it may be new), or a crash
        # could take it away with every acknowledged event inside.
        fsync_dir(self.directory.parent)

        self._sealed: list[Segment] = []
        self._fd: int | None = None
        self._active_path: Path | None = None
        self._active_first_seq = 1
        self._active_bytes = 0  # written to the OS plus pending in _buf
        # How much of the active segment a completed fsync covers: after a failed write or
        # fsync the file is cut back to it, so what was never acknowledged cannot come back
        # on replay (a registration the API reported as failed must not appear after a restart).
        self._synced_bytes = 0
        self._written_bytes = 0
        self._active_first_record_at: float | None = None  # clock() at the segment's first record
        # Encoded records appended but not yet handed to the OS: one write per commit
        # instead of one syscall per append.
        self._buf = bytearray()

        self._last_seq = 0  # last assigned
        self._durable_seq = 0  # last known fsync'd
        self._flight: asyncio.Future[None] | None = None
        self._failed: BaseException | None = None
        self._closed = False
        # One dedicated thread: fsyncs of this log never queue behind unrelated work in the
        # loop's default executor, and at most one is in flight anyway.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-fsync")

        self.fsyncs = 0
        self.records_appended = 0
        self.records_committed = 0
        self.last_fsync_latency_s = 0.0
        self.truncated_bytes = 0

        self._recover()

    # ---------------------------------------------------------------- opening

    def _recover(self) -> None:
        found = sorted(
            (seq, self.directory / name)
            for name in os.listdir(self.directory)
            if (seq := _parse_name(name)) is not None
        )
        segments: list[Segment] = []
        for i, (first_seq, path) in enumerate(found):
            last = i == len(found) - 1
            data = path.read_bytes()
            spans, valid_end, problem = _scan(data)
            if problem is not None:
                if not last:
                    raise CorruptLogError(f"{path}: {problem} (sealed segment)")
                # Only the newest segment can hold unacknowledged writes cut by a crash:
                # everything acknowledged was fsync'd before its ack, and fsync makes the
                # whole prefix durable, so whatever follows the first bad record was never
                # acknowledged. Cut it so appends continue from a clean end.
                log.warning(
                    "event log %s: %s; truncating torn tail of %d bytes (unacknowledged writes)",
                    path, problem, len(data) - valid_end,
                )
                self._truncate(path, valid_end)
                self.truncated_bytes += len(data) - valid_end
            seg = Segment(path, first_seq, first_seq + len(spans) - 1)
            if segments and seg.first_seq <= segments[-1].last_seq:
                raise CorruptLogError(
                    f"{path}: starts at seq {seg.first_seq} but {segments[-1].path.name} "
                    f"already reaches seq {segments[-1].last_seq}"
                )
            segments.append(seg)

        if segments and segments[-1].last_seq < segments[-1].first_seq:
            # The newest segment is empty: it becomes the active one again, keeping its name.
            empty = segments.pop()
            self._sealed = segments
            self._last_seq = empty.first_seq - 1
            self._durable_seq = self._last_seq
            self._open_active(empty.first_seq, existing=empty.path)
        else:
            # Never append to a segment a previous process wrote: everything that exists is
            # sealed as it is (already durable or truncated and fsync'd), so sealed segments
            # are immutable and a new process always starts a fresh active segment.
            self._sealed = segments
            self._last_seq = segments[-1].last_seq if segments else 0
            self._durable_seq = self._last_seq
            self._open_active(self._last_seq + 1)

    @staticmethod
    def _truncate(path: Path, size: int) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _open_active(self, first_seq: int, existing: Path | None = None) -> None:
        if existing is not None:
            self._active_path = existing
            self._fd = os.open(existing, os.O_WRONLY | os.O_APPEND)
        else:
            self._active_path = self.directory / segment_name(first_seq)
            self._fd = os.open(self._active_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            # The new name must be durable before any record in it is acknowledged.
            fsync_dir(self.directory)
        self._active_first_seq = first_seq
        self._active_bytes = 0
        self._synced_bytes = self._written_bytes = 0
        self._active_first_record_at = None

    # ---------------------------------------------------------------- appending

    def append(self, events: Sequence[Event]) -> int:
        """Number and buffer `events`; return the last sequence number. Durable only after commit()."""
        if self._closed:
            raise RuntimeError("event log is closed")
        if not events:
            return self._last_seq
        buf = self._buf
        before = len(buf)
        crc32 = zlib.crc32
        try:
            for event in events:
                body = encode_event(event)
                if len(body) > _MAX_BODY:
                    raise ValueError(f"event of {len(body)} bytes exceeds the log's record limit")
                buf += _pack_header(len(body), crc32(body))
                buf += body
        except BaseException:
            # All or nothing: a half-buffered batch would shift every later sequence number.
            del buf[before:]
            raise
        if self._active_first_record_at is None:
            self._active_first_record_at = self._clock()
        self._active_bytes += len(buf) - before
        self._last_seq += len(events)
        self.records_appended += len(events)
        return self._last_seq

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def durable_seq(self) -> int:
        return self._durable_seq

    def _write_pending(self) -> None:
        if not self._buf:
            return
        data = self._buf
        self._buf = bytearray()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            self._written_bytes += written
            view = view[written:]

    # ---------------------------------------------------------------- committing

    async def commit(self) -> None:
        """Return once every event appended before this call is fsync'd.

        Group commit: at most one fsync is in flight; callers arriving meanwhile wait for it
        and then share a single follow-up fsync, so N concurrent callers cost about 2 fsyncs.
        """
        target = self._last_seq
        while self._durable_seq < target:
            if self._failed is not None:
                raise RuntimeError("event log failed an earlier write or fsync; it must be reopened") from self._failed
            if self._flight is None:
                self._flight = asyncio.ensure_future(self._flush())
            # shield: a cancelled caller must not cancel the fsync other callers share.
            await asyncio.shield(self._flight)

    async def _flush(self) -> None:
        step, segment = "writing", self._active_first_seq
        try:
            self._write_pending()
            upto, covered = self._last_seq, self._written_bytes
            step = "fsync of"
            # fsync a duplicate descriptor: if rotate() or close() closes the original while
            # this fsync runs, the dup keeps the file open and the fd number cannot be reused.
            fd = os.dup(self._fd)
            loop = asyncio.get_running_loop()
            latency = await loop.run_in_executor(self._executor, _fsync_and_close, fd)
        except BaseException as exc:
            # After a failed fsync the kernel may have dropped the dirty pages: no later fsync
            # can prove they reached disk, so the log refuses to acknowledge anything more.
            self._failed = exc
            self._cut_unacknowledged()
            if isinstance(exc, OSError):
                raise CommitFailed(exc.errno, f"{step} {self._active_path.name} failed ({exc.strerror})") from exc
            raise
        finally:
            self._flight = None
        if segment == self._active_first_seq:  # not rotated meanwhile (rotation syncs by itself)
            self._synced_bytes = max(self._synced_bytes, covered)
        self.fsyncs += 1
        self.last_fsync_latency_s = latency
        if self._on_fsync is not None:
            self._on_fsync(latency)
        if upto > self._durable_seq:
            self.records_committed += upto - self._durable_seq
            self._durable_seq = upto

    def _cut_unacknowledged(self) -> None:
        """Cut the active segment back to its last fsync: only unacknowledged records go."""
        try:
            os.ftruncate(self._fd, self._synced_bytes)
        except OSError:
            log.exception("could not cut the unacknowledged tail of %s; the next open cuts a torn one",
                          self._active_path)

    def _sync_now(self) -> None:
        """Blocking write + fsync of the active segment (rotation and close only)."""
        try:
            self._write_pending()
            t0 = time.perf_counter()
            os.fsync(self._fd)
        except OSError as exc:
            self._failed = exc
            self._cut_unacknowledged()
            raise CommitFailed(exc.errno, f"sealing {self._active_path.name} failed ({exc.strerror})") from exc
        self._synced_bytes = self._written_bytes
        self.fsyncs += 1
        self.last_fsync_latency_s = time.perf_counter() - t0
        if self._on_fsync is not None:
            self._on_fsync(self.last_fsync_latency_s)
        if self._last_seq > self._durable_seq:
            self.records_committed += self._last_seq - self._durable_seq
            self._durable_seq = self._last_seq

    # ---------------------------------------------------------------- segments

    def maybe_rotate(self) -> bool:
        """Seal the active segment if it is too big or its oldest record too old; True if sealed."""
        if self._active_first_record_at is None:  # no record yet: nothing to seal
            return False
        if (
            self._active_bytes >= self.segment_max_bytes
            or self._clock() - self._active_first_record_at >= self.segment_max_age_s
        ):
            self.rotate()
            return True
        return False

    def rotate(self) -> Segment | None:
        """Seal the active segment (if it has records) and open the next one.

        Blocks the loop for one fsync, once per segment: the seal must be complete before
        the next segment exists, so a segment that is not the newest is never torn.
        """
        if self._closed:
            raise RuntimeError("event log is closed")
        if self._last_seq < self._active_first_seq:
            return None
        self._sync_now()
        os.close(self._fd)
        sealed = Segment(self._active_path, self._active_first_seq, self._last_seq)
        self._sealed.append(sealed)
        self._fd = None
        self._open_active(self._last_seq + 1)
        return sealed

    def sealed_segments(self) -> list[Segment]:
        return list(self._sealed)

    def remove_segment(self, segment: Segment) -> None:
        """Delete a sealed segment (after its events are safely elsewhere, e.g. the lake)."""
        if segment not in self._sealed:
            raise ValueError(f"{segment.path} is not a sealed segment of this log")
        os.unlink(segment.path)
        fsync_dir(self.directory)
        self._sealed.remove(segment)

    # ---------------------------------------------------------------- reading

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, Event]]:
        """Yield (seq, event) for every record on disk with seq > after_seq, in order.

        Includes appended but uncommitted records of this process (they are written to the
        OS first). Raises CorruptLogError on any bad record: the torn tail was cut at open,
        so whatever is bad now was durable once.
        """
        if not self._closed:
            self._write_pending()
        segments = list(self._sealed)
        if self._active_path is not None and self._last_seq >= self._active_first_seq:
            segments.append(Segment(self._active_path, self._active_first_seq, self._last_seq))
        for seg in segments:
            if seg.last_seq > after_seq:
                yield from _read_segment(seg, after_seq)

    def read_segment(self, segment: Segment) -> list[tuple[int, Event]]:
        """All (seq, event) of one sealed segment, e.g. to land it in the lake.

        Safe to call from a worker thread (it touches only the immutable sealed file), so
        decoding a large segment need not block the event loop.
        """
        if segment not in self._sealed:
            raise ValueError(f"{segment.path} is not a sealed segment of this log")
        return list(_read_segment(segment, 0))

    # ---------------------------------------------------------------- closing

    def stats(self) -> dict[str, float | int]:
        return {
            "last_seq": self._last_seq,
            "durable_seq": self._durable_seq,
            "records_appended": self.records_appended,
            "records_committed": self.records_committed,
            "fsyncs": self.fsyncs,
            "last_fsync_latency_s": self.last_fsync_latency_s,
            "active_segment_bytes": self._active_bytes,
            "sealed_segments": len(self._sealed),
            "truncated_bytes_at_open": self.truncated_bytes,
        }

    def close(self) -> None:
        """Graceful shutdown: fsync everything appended, close the file."""
        if self._closed:
            return
        try:
            if self._failed is None:
                self._sync_now()
        finally:
            self._closed = True
            os.close(self._fd)
            self._fd = None
            self._executor.shutdown(wait=True)


def _read_segment(seg: Segment, after_seq: int) -> Iterator[tuple[int, Event]]:
    data = seg.path.read_bytes()
    spans, _, problem = _scan(data)
    expected = seg.last_seq - seg.first_seq + 1
    # Opening cut the torn tail, so anything unreadable now was durable once.
    if problem is not None or len(spans) < expected:
        raise CorruptLogError(
            f"{seg.path}: {problem or 'fewer records than expected'}; "
            f"{len(spans)} of {expected} records readable"
        )
    view = memoryview(data)
    skip = max(0, after_seq - seg.first_seq + 1)
    seq = seg.first_seq + skip
    for start, end in spans[skip:expected]:
        yield seq, decode_event(view[start:end])
        seq += 1


def _fsync_and_close(fd: int) -> float:
    t0 = time.perf_counter()
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - t0
