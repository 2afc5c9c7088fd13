"""Lenient readers for single fields of provider JSON.

Providers send the same value as a number one day and a string the next, or leave it
out. A bad optional field must not cost us the rest of a response (a poll that says
``completed`` is still worth having without its timestamp), so each reader returns
``None`` for what it cannot read and, when given an ``errors`` list, says why there.

Every reader is total and bounded, whatever arrives: no exception but the ones it
catches, no recursion (a value nested 1,000 deep is described, not ``repr``'d), and
no text longer than the value it came from. Whether a value *fits its column* is
decided later, once, by :mod:`receiver.fitting`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from receiver.fitting import compact_text, describe

# Longer numeric text is no number a provider means (and int() of it costs time).
MAX_NUMBER_TEXT = 100


def optional_text(value: Any, name: str = "value", errors: list[str] | None = None) -> str | None:
    """``failCode`` and friends arrive as strings, numbers or null; keep text or None.

    An object or list is kept as its compact JSON, unless it is too deep or too large
    to keep (then ``None``, and the reason in ``errors``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    if isinstance(value, float) or (isinstance(value, int) and abs(value) < 10**MAX_NUMBER_TEXT):
        return str(value)
    text = compact_text(value)
    if text is None and errors is not None:
        errors.append(f"{name}: {describe(value)} too deep or too large to keep")
    return text


def integer(value: Any, name: str, errors: list[str] | None = None) -> int | None:
    """An integer from a number or numeric string; ``None`` when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > MAX_NUMBER_TEXT):
        if errors is not None:
            errors.append(f"{name}: expected a number, got {describe(value)}")
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        if errors is not None:
            errors.append(f"{name}: expected a number, got {describe(value)}")
        return None


def number(value: Any) -> float | None:
    """A credit amount and the like: int, float or numeric string; never a boolean."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None  # NaN and infinities are not kept


def epoch(
    value: Any, name: str, errors: list[str] | None = None, *, millis: bool = True
) -> datetime | None:
    """An aware UTC datetime from an epoch in milliseconds (or seconds)."""
    count = integer(value, name, errors)
    if count is None:
        return None
    try:
        return datetime.fromtimestamp(count / 1000 if millis else count, tz=UTC)
    except (OverflowError, OSError, ValueError):
        if errors is not None:
            unit = "milliseconds" if millis else "seconds"
            errors.append(f"{name}: {count} is not a valid epoch in {unit}")
        return None


def iso_datetime(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text (``2026-03-12T09:30:00.000Z``); naive is UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def url_list(*sources: Any) -> tuple[str, ...]:
    """Non-empty strings from each source (a string, a list, or nothing), deduplicated
    in order of first appearance."""
    seen: dict[str, None] = {}
    for source in sources:
        items: Iterable[Any] = source if isinstance(source, list | tuple) else (source,)
        for item in items:
            if isinstance(item, str) and item.strip():
                seen.setdefault(item, None)
    return tuple(seen)


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (for optional nesting)."""
    return value if isinstance(value, dict) else {}
