"""Refuse NUL characters at the edge, before they reach a query.

PostgreSQL text cannot hold U+0000: a NUL in a task id, a filter or a JSON field
makes asyncpg raise, which used to surface as a 500 from almost any route (the
schemathesis run in ``tests/integration/test_api_properties.py`` found them). No
identifier, filter or field genhook accepts can legitimately contain one, so this
middleware is the one place that refuses them: ``400 invalid_request`` for a NUL in
the path or query string, and ``422 invalid_request`` for one inside a JSON body of
the admin API (``/api/*``: small bodies, read here and handed on unchanged). It runs
after authentication, so an anonymous client learns nothing and costs no body
read. Provider callbacks are left alone: their bodies are stored byte for byte and
parsed by their own rules.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.web.http import error

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_CHECKED_BODY = 1024 * 1024  # larger admin bodies are passed on unchecked
_ESCAPED_NUL = b"\\u0000"


class RefuseNulMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            response = error(400, "invalid_request", "NUL characters are not allowed in URLs")
            await response(scope, receive, send)
            return
        if scope["method"] in BODY_METHODS and scope["path"].startswith("/api/"):
            body, complete = await _read(receive)
            if complete and has_nul(body):
                response = error(422, "invalid_request", "NUL characters are not allowed")
                await response(scope, receive, send)
                return
            receive = _replay(body, receive, complete)
        await self.app(scope, receive, send)


def has_nul(body: bytes) -> bool:
    """True when the JSON ``body`` holds a NUL in any string (cheap unless it may)."""
    if _ESCAPED_NUL not in body:
        return False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # not JSON: the route refuses it on its own terms
    return _contains_nul(document)


def _contains_nul(document: Any) -> bool:
    """Walked with a stack, not by recursion: a deeply nested body is no 500."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """Up to :data:`MAX_CHECKED_BODY` bytes of the body; whether that is all of it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True  # disconnected: let the route see it
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_CHECKED_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, complete: bool) -> Receive:
    """A ``receive`` that gives ``body`` first, then whatever was not read yet."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay
