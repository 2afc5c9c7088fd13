"""Refuse NUL characters in URLs at the edge, before they reach a query.

PostgreSQL text cannot hold U+0000: a NUL in a task id or a filter makes asyncpg
raise, which used to surface as a 500 from almost any route (the schemathesis run in
``tests/integration/test_api_properties.py`` found them). No identifier or filter
genhook accepts can legitimately contain one, so this middleware answers ``400
invalid_request`` for a NUL in the path or query string. It runs after
authentication (the middleware in front of it), and it leaves the provider callback
route alone: there the token is checked first (a NUL in it is a 401) and the query
is never read. NUL characters inside admin request bodies are refused where the
body is read, bounded and after authentication (:func:`receiver.web.http.parse_body`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.web.http import error

CALLBACKS = "/callbacks/"


class RefuseNulMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not scope["path"].startswith(CALLBACKS)
            and ("\x00" in scope["path"] or b"%00" in scope["query_string"])
        ):
            response = error(400, "invalid_request", "NUL characters are not allowed in URLs")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
