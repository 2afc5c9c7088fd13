"""Small HTTP helpers the three gateway modules share: bodies, tokens, ids, times.

Kept apart from the gateways so each gateway module reads as its contract and nothing
else, and so the three agree on the boring parts (a body that is not a JSON object is a
400 everywhere, a bearer token is parsed the same way everywhere).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from ulid import ULID

from receiver.simulator.errors import bad_request

_CUID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or the gateway's 400."""
    body = await request.body()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("request body must be valid JSON") from None
    if not isinstance(document, dict):
        raise bad_request("request body must be a JSON object")
    return document


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(payload), status_code=status, headers=headers, media_type="application/json"
    )


def base_url(request: Request) -> str:
    """The URL this simulator was reached on, for links back to itself."""
    return str(request.base_url).rstrip("/")


def ulid_id(prefix: str) -> str:
    """``prefix`` + a ULID, the id style of API Mall (``img_``, ``req_``) and APIMart."""
    return f"{prefix}{ULID()}"


def cuid_id() -> str:
    """A cuid-looking id (``cl`` + 23 base-36 characters), apimodels' ``taskId`` style."""
    return "cl" + "".join(secrets.choice(_CUID_ALPHABET) for _ in range(23))


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def epoch_s(moment: datetime) -> int:
    return int(moment.timestamp())


def iso_ms(moment: datetime) -> str:
    """``2026-03-12T09:30:00.000Z``, API Mall's timestamp format."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# Field readers: each returns the value or raises the gateway's 400 naming the field.


def optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value


def required_str(body: dict[str, Any], name: str) -> str:
    value = optional_str(body, name)
    if value is None or not value.strip():
        raise bad_request(f"{name} is required")
    return value


def optional_int(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    """An integer in ``[low, high]``; quoted numbers and booleans are refused, as
    the docs warn ("must be a plain number")."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer")
    if not low <= value <= high:
        raise bad_request(f"{name} must be between {low} and {high}")
    return value


def optional_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"{name} must be a boolean")
    return value


def optional_choice(body: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = optional_str(body, name)
    if value is not None and value not in choices:
        raise bad_request(f"{name} must be one of: {', '.join(choices)}")
    return value


def optional_str_list(body: dict[str, Any], name: str, limit: int | None = None) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request(f"{name} must be an array of non-empty strings")
    if limit is not None and len(value) > limit:
        raise bad_request(f"{name} accepts at most {limit} items")
    return value
