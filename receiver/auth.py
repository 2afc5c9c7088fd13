"""Admin API access: a bearer token when one is configured, else loopback only.

Without ``GENHOOK_API_TOKEN`` the server refuses to bind a public address (see
``cli.serve``), and this middleware is the second line: a request that still arrives
from a non-loopback client (e.g. through a proxy that forwards the real address) is
refused. Callback routes are not covered: their URL token is their credential.
The mirrored result images (``/assets/...``) follow the same rule as the API.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.http import error
from receiver.settings import is_loopback_host

PROTECTED_PREFIXES = ("/api/", "/assets/")


class AdminAuthMiddleware:
    def __init__(self, app: ASGIApp, *, api_token: str | None) -> None:
        self.app = app
        self._expected = f"Bearer {api_token}".encode() if api_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self._expected is not None:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
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
