"""msgspec Structs as FastAPI responses: a Response that encodes them, and their JSON Schemas in /openapi.json.

FastAPI's `response_model` wants pydantic models; our views are msgspec Structs (actors/views.py,
serve_app/api_views.py). Rather than keep a pydantic twin of every struct, a route declares
`**typed(SomeStruct)`: its answer is encoded by msgspec (`StructResponse`), and the OpenAPI
document refers to the schema msgspec generates for the struct, so /docs shows the real fields.

Timestamps: msgspec writes every timezone-aware datetime as RFC 3339 (`format: date-time`),
`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`: UTC with `Z`, microsecond precision, the fraction left out
when it is zero. Every timestamp the API prints is an aware datetime (`actors.events.utc_datetime`)
encoded by this encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

_REF = "#/components/schemas/{name}"
_encoder = msgspec.json.Encoder()


class StructResponse(JSONResponse):
    """JSON encoded by msgspec: Structs, datetimes (RFC 3339, `Z`) and builtins."""

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


class ResponseSchemas:
    """The Structs routes answer with, so their schemas go into the OpenAPI components."""

    def __init__(self) -> None:
        self._types: list[type] = []
        self._body_components: dict[str, Any] = {}

    def typed(self, struct: type, status: int = 200, description: str = "OK") -> dict[str, Any]:
        """Route keyword arguments: answer `struct` (encoded by StructResponse), schema documented."""
        self._types.append(struct)
        schema = {"$ref": _REF.format(name=struct.__name__)}
        return {
            "response_class": StructResponse,
            "status_code": status,
            "responses": {status: {"description": description, "content": {"application/json": {"schema": schema}}}},
        }

    def schema_of(self, annotation: Any) -> dict[str, Any]:
        """The JSON Schema of a type for a request body (its structs join the components)."""
        (schema,), components = msgspec.json.schema_components([annotation], ref_template=_REF)
        self._body_components.update(components)
        return schema

    def install(self, app: FastAPI, *extend: Callable[[FastAPI, dict[str, Any]], None]) -> None:
        """Make `app.openapi()` include the schemas of every typed route (then let `extend` add to it)."""

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                document = get_openapi(title=app.title, version=app.version, description=app.description,
                                       routes=app.routes)
                _, components = msgspec.json.schema_components(self._types, ref_template=_REF)
                schemas = document.setdefault("components", {}).setdefault("schemas", {})
                schemas.update(components)
                schemas.update(self._body_components)
                for add in extend:
                    add(app, document)
                app.openapi_schema = document
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
