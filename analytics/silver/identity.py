"""How silver names an id tag without keeping it: a hash (raw id tags never reach the lake)."""

from __future__ import annotations

import hashlib


def id_tag_hash(id_tag: str | None) -> str | None:
    """SHA-256 of the id tag (upper-cased: 1.6 idTags are case-insensitive), first 16 bytes in hex."""
    if id_tag is None:
        return None
    return hashlib.sha256(id_tag.upper().encode()).hexdigest()[:32]
