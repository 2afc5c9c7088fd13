"""A size limit on admin API request bodies (``GENHOOK_API_MAX_BODY``).

Every admin body is small JSON (a job, a subscriber, a replay filter), so one
larger than the limit is refused with ``413 body_too_large`` before any route sees
it: at once when ``Content-Length`` declares it, else as soon as the streamed body
passes the limit. At most ``limit`` bytes are ever held. The body that passes is
handed on unchanged. Callback bodies have their own limit
(``GENHOOK_CALLBACK_MAX_BODY``, :mod:`receiver.web.callbacks`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.errors import BodyTooLargeError
from receiver.web.http import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in BODY_METHODS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._limit:
            await error_response(BodyTooLargeError(self._limit))(scope, receive, send)
            return
        body, disconnected = await self._read(receive)
        if body is None:
            await error_response(BodyTooLargeError(self._limit))(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive, disconnected), send)

    async def _read(self, receive: Receive) -> tuple[bytes | None, bool]:
        """The whole body, or None past the limit; and whether the client went away."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                return None, False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, disconnected: bool) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
