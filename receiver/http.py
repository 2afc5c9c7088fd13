"""Small HTTP helpers shared by the routes: JSON responses and bounded body reads."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response


class JSONResponse(Response):
    """orjson-encoded JSON; it is several times faster than ``json`` on the hot path."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """Every error the service answers has this shape: ``{"error": {"code", "message"}}``."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code)


class BodyTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body exceeds {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing anything over ``limit`` bytes without buffering it all.

    ``Content-Length`` is checked first; a chunked or lying body is counted as it
    streams, so an oversized upload costs us at most ``limit`` bytes of memory.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)
