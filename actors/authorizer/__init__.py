"""External (downstream) authorization of id tags, built to fail well (issue 6).

A network often authorizes id tags it does not hold itself at an external party (a roaming
hub, an eMSP, a payment provider). Each StationHost asks one such downstream over HTTP
(`contract.py` defines the exchange), through a client that retries with backoff within a
short deadline and a circuit breaker (`client.py`, `breaker.py`). When the downstream cannot
answer, cached earlier answers (`cache.py`) and then the configured policy decide
(`decision.py`). `resolver.py` ties this together for one host.

The decision is an input to the pure StationSession: the host resolves it before the
session handles the frame, and the session logs it as an `AuthorizationDecided` event, so
replaying the log never calls the downstream.

Modules are imported directly (`from actors.authorizer.decision import ...`): the pure
parts must not pull in the HTTP client.
"""
