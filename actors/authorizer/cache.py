"""Downstream answers kept per host, each until the downstream's expiry (bounded in size and age).

Used only when the downstream cannot answer: a tag accepted an hour ago still works while
the downstream is down, but a fresh answer always wins while it is up (a card blocked since
must not stay accepted for the life of a cached answer). Pure: times are passed in.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from actors.station_state import IdTagRecord


class CachedAnswer(msgspec.Struct, frozen=True, kw_only=True):
    record: IdTagRecord
    answered_at_us: int
    # Not used at or after this time: the tag's expiry_date, or answered_at + the maximum age.
    valid_until_us: int


class AnswerCache:
    def __init__(self, capacity: int, max_age_s: float) -> None:
        self.capacity = max(0, capacity)
        self.max_age_us = int(max_age_s * 1_000_000)
        # Least recently stored first: the oldest answer goes when the cache is full.
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def store(self, id_tag: str, record: IdTagRecord, now_us: int) -> None:
        if self.capacity == 0:
            return
        valid_until = now_us + self.max_age_us
        if record.expiry_us is not None:
            valid_until = min(valid_until, record.expiry_us)
        if valid_until <= now_us:
            self._entries.pop(id_tag, None)  # already expired: nothing worth keeping
            return
        self._entries[id_tag] = CachedAnswer(record=record, answered_at_us=now_us, valid_until_us=valid_until)
        self._entries.move_to_end(id_tag)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def lookup(self, id_tag: str, now_us: int) -> IdTagRecord | None:
        entry = self._entries.get(id_tag)
        if entry is None:
            return None
        if now_us >= entry.valid_until_us:
            del self._entries[id_tag]
            return None
        return entry.record
