"""apimodels.app: the one gateway here that calls us back.

Contract: ``../shared/provider-docs/apimodels-images-and-callbacks.txt``. The callback
is ``{"code", "msg", "data": {taskId, model, state, param, resultJson, failCode,
failMsg, costTime, completeTime, createTime}}`` where ``param`` and ``resultJson`` are
JSON strings that must be parsed a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from receiver.lifecycle import Source, TaskSnapshot
from receiver.providers.errors import MalformedCallbackError
from receiver.providers.jsonfields import decode_json_field

NAME = "apimodels"


@dataclass(frozen=True, slots=True)
class ParsedCallback:
    """A readable callback: the snapshot, the echoed request and what was odd in it."""

    snapshot: TaskSnapshot
    request_params: Any
    parse_errors: tuple[str, ...]


def parse_callback(body: bytes, *, observed_at: datetime) -> ParsedCallback:
    """Read an apimodels callback body.

    Raises :class:`MalformedCallbackError` only when the body says nothing usable
    (not JSON, no ``data`` object, no ``state``); anything less is parsed as far as it
    goes and the problems are listed in ``parse_errors``.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedCallbackError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedCallbackError("body is not a JSON object")
    data = document.get("data")
    if not isinstance(data, dict):
        raise MalformedCallbackError("body has no 'data' object")
    state = data.get("state")
    if not isinstance(state, str) or not state.strip():
        raise MalformedCallbackError("'data.state' is missing or not a string")

    param = decode_json_field("param", data.get("param"))
    result = decode_json_field("resultJson", data.get("resultJson"))
    errors = [e for e in (param.error, result.error) if e]

    snapshot = TaskSnapshot(
        state=state,
        source=Source.CALLBACK,
        provider_task_id=_optional_str(data.get("taskId")),
        result_urls=_result_urls(result.value, errors),
        error_code=_optional_str(data.get("failCode")),
        error_message=_optional_str(data.get("failMsg")),
        provider_created_at=_epoch_ms(data.get("createTime"), "createTime", errors),
        provider_completed_at=_epoch_ms(data.get("completeTime"), "completeTime", errors),
        provider_cost_ms=_int(data.get("costTime"), "costTime", errors),
        observed_at=observed_at,
    )
    request_params = param.value if param.error is None else param.raw
    return ParsedCallback(snapshot, request_params, tuple(errors))


def _result_urls(result: Any, errors: list[str]) -> tuple[str, ...]:
    if result is None:
        return ()
    if not isinstance(result, dict):
        errors.append("resultJson: expected an object with 'resultUrls'")
        return ()
    urls = result.get("resultUrls")
    if urls is None:
        return ()
    if not isinstance(urls, list):
        errors.append("resultJson.resultUrls: expected a list")
        return ()
    good = tuple(u for u in urls if isinstance(u, str) and u)
    if len(good) != len(urls):
        errors.append("resultJson.resultUrls: dropped entries that are not URLs")
    return good


def _optional_str(value: Any) -> str | None:
    """``failCode`` and friends arrive as strings, numbers or null; keep text or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return str(value)
    return orjson.dumps(value).decode()


def _int(value: Any, name: str, errors: list[str]) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        errors.append(f"{name}: expected a number, got {value!r}")
        return None


def _epoch_ms(value: Any, name: str, errors: list[str]) -> datetime | None:
    millis = _int(value, name, errors)
    if millis is None:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        errors.append(f"{name}: {millis} is not a valid epoch in milliseconds")
        return None
