"""How an id tag was authorized, and what the policy says when the downstream cannot answer.

Pure. An `AuthorizationDecision` is what the host hands to the StationSession with the
frame; the session answers from its record and logs it (`AuthorizationDecided` event), and
the transaction it starts keeps the decision's source, so billing can find the ones
authorized offline and reconcile them later.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from actors.station_state import IdTagRecord

# Where the answer came from: the local id-tag table, a cached downstream answer, a fresh
# downstream answer, or (nobody could vouch for the tag) the policy of that name.
Source = Literal["local", "cache", "downstream", "free_vending", "local_only", "reject"]
Policy = Literal["free_vending", "local_only", "reject"]
# What happened when we tried the downstream. "refused": it answered, but not with a usable
# answer (a 4xx other than 429, or a body outside the contract). "not_asked": answered from
# the cache without asking (StopTransaction, whose idTagInfo is only informative).
DownstreamOutcome = Literal["answered", "breaker_open", "unavailable", "refused", "not_asked"]

# Sources that did not come from a live check: transactions with them are for billing to reconcile.
OFFLINE_SOURCES: frozenset[str] = frozenset({"cache", "free_vending"})


class AuthorizationDecision(msgspec.Struct, frozen=True, kw_only=True):
    id_tag: str  # normalised (upper case): idTag is a CiString
    source: Source
    record: IdTagRecord
    downstream: DownstreamOutcome


class AuthorizationDecided(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Payload of the system event logged right after the CALLRESULT it decided."""

    id_tag: str
    source: Source
    downstream: DownstreamOutcome
    # The idTagInfo status the station was sent (after expiry and ConcurrentTx checks).
    status: str
    # The transaction the decision belongs to: 1.6 StartTransaction's (the id we assigned),
    # 2.0.1 TransactionEvent's (the station's string id).
    transaction_id: int | str | None = None


def answered(id_tag: str, record: IdTagRecord) -> AuthorizationDecision:
    return AuthorizationDecision(id_tag=id_tag, source="downstream", record=record, downstream="answered")


def from_cache(id_tag: str, cached: IdTagRecord) -> AuthorizationDecision:
    return AuthorizationDecision(id_tag=id_tag, source="cache", record=cached, downstream="not_asked")


def without_downstream(id_tag: str, outcome: DownstreamOutcome, policy: Policy,
                       local: IdTagRecord | None, cached: IdTagRecord | None) -> AuthorizationDecision:
    """The downstream could not answer: the local table, then a cached answer, then the policy.

    A cached answer is the downstream's own word, only older: `free_vending` and `local_only`
    use it. `reject` does not: it is for networks that accept nothing the downstream has not
    vouched for just now (the operator's own local table still answers for its own tags).
    """
    if local is not None:
        return AuthorizationDecision(id_tag=id_tag, source="local", record=local, downstream=outcome)
    if cached is not None and policy != "reject":
        return AuthorizationDecision(id_tag=id_tag, source="cache", record=cached, downstream=outcome)
    status = "Accepted" if policy == "free_vending" else "Invalid"
    return AuthorizationDecision(id_tag=id_tag, source=policy, record=IdTagRecord(status=status), downstream=outcome)
