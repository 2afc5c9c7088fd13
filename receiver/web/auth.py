"""Admin API access: always a bearer token.

There is no unauthenticated mode: ``create_app`` resolves the token before the app
is built (``GENHOOK_API_TOKEN``, or the one generated into the data dir, see
:mod:`receiver.access`), so no reverse proxy or tunnel in front of a loopback
server can expose the API by accident. Callback routes are not covered: their URL
token is their credential.

The dashboard (``/``, ``/tasks/...``, ``/stats``), the mirrored images
(``/assets/...``) and the Prometheus metrics (``/metrics``) are covered too. A
browser proves the token with the dashboard's session cookie
(``receiver.web.dashboard.session``), which counts for reads only; a page load
without it is sent to ``/login`` (or follows the login link the server printed,
``/login?token=...``).
"""

from __future__ import annotations

import hmac
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.web.dashboard.session import COOKIE, cookie_grants
from receiver.web.http import error

PROTECTED_PREFIXES = ("/api/", "/assets/", "/tasks/")
PROTECTED_PATHS = ("/", "/metrics", "/stats")


class AdminAuthMiddleware:
    def __init__(self, app: ASGIApp, *, api_token: str) -> None:
        if not api_token:
            raise ValueError("the admin API needs a token")
        self.app = app
        self._token = api_token
        self._expected = f"Bearer {api_token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected) or self._session_ok(scope):
            await self.app(scope, receive, send)
            return
        if _is_page_load(scope):
            target = quote(scope["path"], safe="/")
            await RedirectResponse(f"/login?next={target}", 303)(scope, receive, send)
            return
        response = error(401, "unauthorized", "missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="genhook"'
        await response(scope, receive, send)

    def _session_ok(self, scope: Scope) -> bool:
        cookie = Request(scope).cookies.get(COOKIE)
        return cookie_grants(cookie, self._token, scope["method"])


def _protected(path: str) -> bool:
    return path in PROTECTED_PATHS or path.startswith(PROTECTED_PREFIXES)


def _is_page_load(scope: Scope) -> bool:
    """A browser asking for a dashboard page (not the API, an image or a fragment)."""
    if scope["method"] != "GET" or scope["path"].startswith(("/api/", "/assets/")):
        return False
    accept = dict(scope["headers"]).get(b"accept", b"")
    return b"text/html" in accept
