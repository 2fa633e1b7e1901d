"""The registry of OCPP versions the CSMS speaks: each version's `Protocol` by its version, and subprotocol negotiation.

Adding a version is one line here (docs/architecture.md). Nothing outside a version's folder
and this registry imports a version's names: the rest asks `PROTOCOLS[state.ocpp_version]`.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.ocpp16.protocol import OCPP16
from actors.ocpp201.protocol import OCPP201
from actors.protocol import Protocol

# Newest first: when a station offers several subprotocols, the highest we share wins.
PROTOCOLS: dict[str, Protocol] = {p.version: p for p in (OCPP201, OCPP16)}

# What a station speaks when nothing says otherwise: events and snapshots written before the
# version was recorded (their `ocpp_version` field defaults to it) were all 1.6.
DEFAULT_VERSION = OCPP16.version

SUBPROTOCOLS: tuple[str, ...] = tuple(p.subprotocol for p in PROTOCOLS.values())

# Every action name of any version, either direction: the bounded set metrics may tag with.
ACTION_NAMES: frozenset[str] = frozenset().union(*(set(p.actions) | set(p.commands) for p in PROTOCOLS.values()))

# Any version's transaction messages, for code that classifies a frame before knowing more.
TRANSACTION_ACTIONS: frozenset[str] = frozenset().union(*(p.transaction_actions for p in PROTOCOLS.values()))


def other_version_command(action: str, protocol: Protocol) -> tuple[str, str | None] | None:
    """For an action that is not a command of `protocol` but is one of another version: that
    version, and `protocol`'s command for the same thing if it has one; else None."""
    for other in PROTOCOLS.values():
        if other is protocol or action not in other.commands:
            continue
        instead = protocol.renamed_commands.get(action) or next(
            (mine for mine, theirs in other.renamed_commands.items() if theirs == action and mine in protocol.commands),
            None)
        return other.version, instead
    return None


def negotiate(offered: Iterable[str]) -> Protocol | None:
    """The highest version whose subprotocol the station offered (OCPP-J section 3.1.2), else None."""
    offered = set(offered)
    for protocol in PROTOCOLS.values():
        if protocol.subprotocol in offered:
            return protocol
    return None
