"""Small HTTP helpers shared by the routes: JSON responses and bounded body reads."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
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


ModelT = TypeVar("ModelT", bound=BaseModel)


async def parse_body(request: Request, model: type[ModelT]) -> ModelT | Response:
    """The JSON body as ``model``, or the error response to send instead.

    Every route answers alike: text that is not JSON is a 400 ``invalid_json``; JSON
    of the wrong shape a 422 ``invalid_request`` naming each offending field.
    """
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = exc.errors()
        if any(problem["type"] == "json_invalid" for problem in problems):
            return error(400, "invalid_json", "request body is not valid JSON")
        message = "; ".join(
            f"{'.'.join(str(part) for part in p['loc']) or 'body'}: {p['msg']}" for p in problems
        )
        return error(422, "invalid_request", message)
