"""The back office in the browser: server-rendered pages (Jinja2, htmx) on the operator API's app and port.

Mounted with one line in serve_app/operator_api.py (`api_app.include_router(router)`); the
pages reach the stations the way the API does (their StationHost) and sign in with the API's
tokens. See README.md, "Back office".
"""

from fastapi import APIRouter, Depends, Request

from serve_app.backoffice import admin, lake_pages, pages, records
from serve_app.backoffice.web import BackOffice


def _seen(request: Request) -> None:
    # Every request, so the first one of each kept-alive connection is (connections.py).
    BackOffice.of_replica().origin(request)


router = APIRouter(include_in_schema=False, dependencies=[Depends(_seen)])
router.include_router(pages.router)
router.include_router(records.router)
router.include_router(lake_pages.router)
router.include_router(admin.router)
