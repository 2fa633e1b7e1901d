"""Who may call the operator API: bearer tokens with roles, checked by one FastAPI dependency.

A route declares the least role it needs, `dependencies=requires("admin")`; the dependency
runs before the body is validated, so a caller without the role learns nothing about it.
Wrong or missing token: 401; a token whose role ranks too low: 403 (README, Operator API).
"""

# No `from __future__ import annotations`: FastAPI reads the dependency's signature at runtime.
import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from actors.config import ROLE_RANK, Config, Role

_bearer = HTTPBearer(auto_error=False, description="an api_tokens token; its role decides what it may call")


class TokenTable:
    """The configured tokens and their roles; compares in constant time."""

    def __init__(self, config: Config) -> None:
        self._tokens = [(token.encode(), role) for token, role in config.token_roles() if token]

    def role_of(self, presented: str) -> Role | None:
        candidate = presented.encode()
        role = None
        # Compare against every token, not until the first match, so timing reveals nothing.
        for token, token_role in self._tokens:
            if hmac.compare_digest(candidate, token):
                role = token_role
        return role


def _tokens() -> TokenTable:
    # The replica's OperatorApi instance (the same lookup Serve uses to give handlers `self`).
    from ray import serve

    return serve.get_replica_context().servable_object.token_table


def requires(need: Role) -> list:
    """`dependencies=` of a route that needs at least the `need` role."""

    async def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Role:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        role = _tokens().role_of(credentials.credentials)
        if role is None:
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        if ROLE_RANK[role] < ROLE_RANK[need]:
            raise HTTPException(403, f"this needs the {need} role; the token has {role}")
        return role

    check.__name__ = f"requires_{need}"
    check.required_role = need  # type: ignore[attr-defined]
    return [Depends(check)]


def api_routes(routes: list) -> Iterator[APIRoute]:
    """Every APIRoute, also those Serve's ingress moved into an included router (FastAPI >= 0.137
    keeps those under a node holding `original_router`)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from api_routes(route.original_router.routes)


def document_roles(app: FastAPI, document: dict) -> None:
    """Name each operation's role in the OpenAPI document (`x-required-role`, and in its text)."""
    for route in api_routes(app.routes):
        roles = [getattr(d.dependency, "required_role", None) for d in route.dependencies]
        role = next((r for r in roles if r), None)
        if role is None:
            continue
        for method in route.methods:
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["x-required-role"] = role
                operation["description"] = (operation.get("description", "") + f"\n\nNeeds the `{role}` role.").strip()
