"""The back office in the browser: server-rendered pages (Jinja2, htmx) on the operator API's app and port.

Mounted with one line in serve_app/operator_api.py (`api_app.include_router(router)`); the
pages reach the stations the way the API does (their StationHost) and sign in with the API's
tokens. See README.md, "Back office".
"""

from fastapi import APIRouter

from serve_app.backoffice import admin, pages, records

router = APIRouter(include_in_schema=False)
router.include_router(pages.router)
router.include_router(records.router)
router.include_router(admin.router)
