"""What every route shares: the services accessor, responses, bounded body reads,
request parsing, and the one mapping from genhook's errors onto HTTP answers.

Handlers raise :class:`~receiver.errors.GenhookError`s; :func:`error_response` turns
any of them into ``{"error": {"code", "message", ...}}`` with the status below, so a
refusal looks the same on every route. Database failures (SQLAlchemy's, asyncpg's,
a pool timeout) are translated here, at the edge that meets them, into
``503 storage_unavailable`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any, TypeVar, get_origin

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from receiver import errors, resources

if TYPE_CHECKING:
    from receiver.services import Services

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

RETRY_AFTER_SECONDS = 5

# The status of each branch of the error tree; the most specific class wins.
STATUS: dict[type[errors.GenhookError], int] = {
    errors.BodyTooLargeError: 413,
    errors.BodyTimeoutError: 408,
    errors.ClientGoneError: 400,
    errors.MalformedBodyError: 400,
    errors.UnknownProviderError: 404,
    errors.AlreadyTrackedError: 409,
    errors.IdempotencyKeyReusedError: 409,
    errors.NotSettleableError: 409,
    errors.BudgetExceededError: 429,
    errors.RequestError: 422,
    errors.NotFoundError: 404,
    errors.InvalidTokenError: 401,
    errors.TargetRefusedError: 422,
    errors.InvalidSubscriberError: 422,
    errors.DatabaseUnavailableError: 503,
    errors.AssetStoreUnavailableError: 503,
}
# What a database that does not answer raises at the edge; a generic DBAPIError is
# one when storage.errors.is_unavailable says so (a cancelled statement), else a bug.
DATABASE_FAILURES = (DBAPIError, PoolTimeoutError, OSError, TimeoutError)


def services(request: Request) -> Services:
    """The process's services: the one place the web layer reaches for them."""
    found: Services = request.app.state.services
    return found


class JSONResponse(Response):
    """orjson-encoded JSON; it is several times faster than ``json`` on the hot path."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def respond(resource: resources.Resource, status_code: int = 200) -> Response:
    """A resource as its JSON (serialized by pydantic-core straight to bytes)."""
    return Response(resource.to_json(), status_code, media_type="application/json")


def error(status_code: int, code: str, message: str, **extra: Any) -> Response:
    """Every error the service answers has this shape: ``{"error": {"code", "message"}}``."""
    body = resources.Error(error=resources.ErrorBody(code=code, message=message, **extra))
    return Response(
        body.__pydantic_serializer__.to_json(body, exclude_none=True),
        status_code,
        media_type="application/json",
    )


def error_response(exc: errors.GenhookError) -> Response:
    status = next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 500)
    extra: dict[str, Any] = {}
    for name in ("field", "task_id", "limit"):
        value = getattr(exc, name, None)
        if value is not None:
            extra[name] = value
    response = error(status, exc.code, str(exc), **extra)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(exc, errors.BudgetExceededError):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if status == 408:  # the rest of that body must not be read as a next request
        response.headers["Connection"] = "close"
    return response


def storage_unavailable(exc: BaseException) -> Response:
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return error_response(errors.DatabaseUnavailableError("the database is unavailable; retry"))


async def read_body(request: Request, limit: int, *, deadline: float | None = None) -> bytes:
    """Read the body, refusing anything over ``limit`` bytes without buffering it all,
    and anything that takes longer than ``deadline`` seconds to arrive.

    ``Content-Length`` is checked first; a chunked or lying body is counted as it
    streams, so an oversized upload costs us at most ``limit`` bytes of memory. The
    deadline (default: ``GENHOOK_SERVER_BODY_TIMEOUT_SECONDS``) is what keeps a client
    sending byte by byte from holding the connection: it gets 408 and is closed. A
    client that disconnects mid-body is :class:`~receiver.errors.ClientGoneError`, an
    ordinary outcome (logged at info), not a traceback.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise errors.BodyTooLargeError(limit)
    if deadline is None:
        deadline = services(request).settings.server.body_timeout_seconds
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise errors.BodyTooLargeError(limit)
                chunks.append(chunk)
    except TimeoutError:
        log.info("%s %s: body not complete after %gs", request.method, request.url.path, deadline)
        raise errors.BodyTimeoutError(deadline) from None
    except ClientDisconnect:
        log.info("%s %s: the client went away mid-body", request.method, request.url.path)
        raise errors.ClientGoneError() from None
    return b"".join(chunks)


async def parse_body(
    request: Request, model: type[ModelT], *, default: ModelT | None = None
) -> ModelT:
    """The JSON body as ``model`` (``default`` for an empty body, when given).

    Every route refuses alike: a body over ``GENHOOK_API_MAX_BODY`` is a 413, one too
    slow a 408, text that is not JSON a 400 ``invalid_json``, a NUL character anywhere
    a 422 (PostgreSQL cannot store it), JSON of the wrong shape a 422
    ``invalid_request`` naming each offending field. The body is read once, bounded,
    after authentication (the middleware in front of the routes).
    """
    body = await read_body(request, services(request).settings.api_max_body)
    if default is not None and not body.strip():
        return default
    if has_nul(body):
        raise errors.InvalidRequestError("NUL characters are not allowed")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(problem["type"] == "json_invalid" for problem in exc.errors()):
            raise errors.MalformedBodyError("request body is not valid JSON") from None
        raise refusal(exc, "body") from None


def has_nul(body: bytes) -> bool:
    """True when the JSON ``body`` holds a NUL in any string or key (cheap unless it may).

    The body is bounded (``GENHOOK_API_MAX_BODY``), so is the walk.
    """
    if _ESCAPED_NUL not in body:
        return False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # not JSON: refused as such
    pending = [document]  # a stack, not recursion: a deeply nested body is no 500
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


_ESCAPED_NUL = b"\\u0000"


def parse_query(request: Request, model: type[ModelT]) -> ModelT:
    """The query string as ``model``; a bad value is a 422 naming the parameter.

    A parameter declared as a list may repeat (``?type=a&type=b``); any other takes
    its last value.
    """
    params = request.query_params
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in params:
            continue
        values[name] = params.getlist(name) if get_origin(info.annotation) is list else params[name]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise refusal(exc, "query") from None


def refusal(exc: ValidationError, where: str) -> errors.InvalidRequestError:
    """One :class:`~receiver.errors.InvalidRequestError` for a pydantic verdict, naming
    every offending field; the code is ours where a validator chose one."""
    problems = exc.errors()
    message = "; ".join(
        f"{'.'.join(str(part) for part in p['loc']) or where}: {p['msg']}" for p in problems
    )
    first = problems[0]
    code = first["type"] if first["type"] in OUR_CODES else None
    field = ".".join(str(part) for part in first["loc"]) or None
    return errors.InvalidRequestError(message, field=field, code=code)


OUR_CODES = frozenset({"unknown_event_type"})
