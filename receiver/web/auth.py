"""Admin API access: a bearer token when one is configured, else loopback only.

Without ``GENHOOK_API_TOKEN`` the server refuses to bind a public address (see
``cli.serve``), and this middleware is the second line: a request that still arrives
from a non-loopback client (e.g. through a proxy that forwards the real address) is
refused. Callback routes are not covered: their URL token is their credential.

The dashboard (``/``, ``/tasks/...``, ``/stats``), the mirrored images
(``/assets/...``) and the Prometheus metrics (``/metrics``) follow the same rule. A
browser proves the token with the dashboard's session cookie
(``receiver.web.dashboard.session``), which counts for reads only; a page load
without it is sent to ``/login``.
"""

from __future__ import annotations

import hmac
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.settings import is_loopback_host
from receiver.web.dashboard.session import COOKIE, cookie_grants
from receiver.web.http import error

PROTECTED_PREFIXES = ("/api/", "/assets/", "/tasks/")
PROTECTED_PATHS = ("/", "/metrics", "/stats")


class AdminAuthMiddleware:
    def __init__(self, app: ASGIApp, *, api_token: str | None) -> None:
        self.app = app
        self._token = api_token or None
        self._expected = f"Bearer {api_token}".encode() if api_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self._expected is not None:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected) and not self._session_ok(scope):
                if _is_page_load(scope):
                    target = quote(scope["path"], safe="/")
                    await RedirectResponse(f"/login?next={target}", 303)(scope, receive, send)
                    return
                response = error(401, "unauthorized", "missing or wrong bearer token")
                response.headers["WWW-Authenticate"] = 'Bearer realm="genhook"'
                await response(scope, receive, send)
                return
        else:
            client = scope.get("client")
            if client is None or not is_loopback_host(client[0]):
                response = error(
                    403,
                    "loopback_only",
                    "the admin API answers loopback clients only unless GENHOOK_API_TOKEN is set",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _session_ok(self, scope: Scope) -> bool:
        assert self._token is not None
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
