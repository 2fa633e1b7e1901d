"""The id-tag table (OCPP 1.6 authorization): a small detached Ray actor that owns it durably
and pushes every change to the StationHosts, which answer Authorize from their local copy."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec

from actors import directory, logs
from actors.durable_file import write_atomically
from actors.station_state import IdTagRecord
from actors.storage import NotStored, describe, not_stored

log = logging.getLogger("csms.id_tags")


class IdTagTable(msgspec.Struct):
    version: int = 0
    tags: dict[str, IdTagRecord] = {}


def normalise(id_tag: str) -> str:
    # idTag is a CiString20: case-insensitive, so one key per tag whatever the case.
    return id_tag.upper()


# How long a change waits for the running hosts to confirm it before answering anyway.
PUSH_TIMEOUT_S = 5.0


class IdTagRegistry:
    """Owner of the id-tag table. Each change is written (atomically) before it is acknowledged."""

    def __init__(self, data_root: str, host_names: list[str]) -> None:
        logs.configure()
        self._path = Path(data_root) / "registry" / "id_tags.msgpack"
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._hosts = host_names
        self._table = IdTagTable()
        if self._path.exists():
            self._table = msgspec.msgpack.decode(self._path.read_bytes(), type=IdTagTable)
        self._lock = asyncio.Lock()

    async def table(self) -> IdTagTable:
        return self._table

    async def get(self, id_tag: str) -> IdTagRecord | None:
        return self._table.tags.get(normalise(id_tag))

    async def list(self) -> dict[str, IdTagRecord]:
        return self._table.tags

    async def put(self, id_tag: str, record: IdTagRecord) -> bool | NotStored:
        """Create or replace; True when the tag is new, NotStored (nothing changed) if it could not be written."""
        key = normalise(id_tag)
        async with self._lock:
            created = key not in self._table.tags
            refused = await self._commit({key: record})
        return refused or created

    async def put_many(self, records: dict[str, IdTagRecord]) -> tuple[int, int, int] | NotStored:
        """Create or replace many tags (bulk onboarding) with one write: (created, updated,
        unchanged). All or nothing: NotStored means none of them changed."""
        changes = {normalise(tag): record for tag, record in records.items()}
        async with self._lock:
            current = self._table.tags
            changed = {key: record for key, record in changes.items() if current.get(key) != record}
            created = sum(1 for key in changed if key not in current)
            if changed and (refused := await self._commit(changed)) is not None:
                return refused
        return created, len(changed) - created, len(changes) - len(changed)

    async def delete(self, id_tag: str) -> bool | NotStored:
        key = normalise(id_tag)
        async with self._lock:
            if key not in self._table.tags:
                return False
            refused = await self._commit({key: None})
        return refused or True

    async def _commit(self, changes: dict[str, IdTagRecord | None]) -> NotStored | None:
        """Write the changed table, then take it: a change that could not be written never
        takes effect, so an operator's error answer means the tag is as it was."""
        tags = dict(self._table.tags)
        for key, record in changes.items():
            if record is None:
                tags.pop(key, None)
            else:
                tags[key] = record
        table = IdTagTable(self._table.version + 1, tags)
        try:
            await asyncio.to_thread(write_atomically, self._path, msgspec.msgpack.encode(table))
        except OSError as exc:
            log.error("id-tag change not stored: %s", describe(exc), extra={"version": table.version})
            return not_stored(exc)
        self._table = table
        version = self._table.version
        # Waited for, so an operator's 200 means the change is in effect on every running host
        # (a StartTransaction right after the PUT sees the tag). A host that misses a push
        # (restarting) pulls the whole table on start, and one that sees a gap in versions
        # pulls it too, so a slow or dead host only delays the answer, up to PUSH_TIMEOUT_S.
        pushes = []
        for name in self._hosts:
            try:
                pushes.append(directory.get_actor(name).update_id_tags.remote(version, changes))
            except ValueError:
                log.debug("host %s not up; it will pull the id-tag table on start", name)
        if pushes:
            try:
                await asyncio.wait_for(asyncio.gather(*pushes, return_exceptions=True), PUSH_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("id-tag change not confirmed by every host in time; they catch up by pulling",
                            extra={"version": version})
        return None
