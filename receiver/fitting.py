"""Fitting outside values to the columns they are stored in. Pure: no I/O.

Providers, clients and subscribers decide what genhook stores. A value that a column
cannot hold does not fail one request: it fails every transaction that carries it,
and the provider retries, the poller claims the task again, the dispatcher reads the
event again, so one number can stall everything behind it for good. Examples that
did: ``costTime`` of 2^63 (SQLite INTEGER is 64-bit, PostgreSQL INTEGER 32-bit), a
``1e300`` or a 20-digit string read as an integer, a ``failCode`` nested 300 deep
(orjson's encoder stops at 255), a ``NaN`` in request parameters (PostgreSQL's JSON
refuses it), an integer beyond 64 bits in an event payload (orjson refuses to encode
it).

So every value from outside passes through here on its way to SQL, once, at the
write path's door (:func:`fit_snapshot`, used by ``receiver.ingest``), and every JSON
document genhook serialises or stores goes through :func:`dumps` or
:func:`json_problems`:

* a typed field whose value does not fit is dropped (``None``) and the reason is
  returned, to be recorded with the raw body; a text is cut to its column and its
  NUL characters removed (PostgreSQL text cannot hold them);
* a JSON document holds only what every engine and encoder can store: integers
  within 64 bits, finite numbers, strings without NUL, at most
  :data:`MAX_JSON_DEPTH` levels and :data:`MAX_JSON_VALUES` values;
* every walk is iterative and every description bounded: nothing here uses the
  recursion limit, whatever the nesting.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from receiver.lifecycle import TaskSnapshot

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # PostgreSQL INTEGER
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # SQLite INTEGER, PostgreSQL BIGINT, orjson

# Column sizes (storage.models) and the bounds chosen for unbounded text columns.
STATE_LENGTH = 64
PROVIDER_TASK_ID_LENGTH = 200
ERROR_CODE_LENGTH = 200
ERROR_MESSAGE_LENGTH = 4000
URL_LENGTH = 8192
MAX_RESULT_URLS = 100
DETAIL_LENGTH = 2000
PARSE_ERROR_LENGTH = 500
MAX_PARSE_ERRORS = 50

MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 50_000
PREVIEW_LENGTH = 60


def describe(value: Any) -> str:
    """A short, bounded description of ``value`` for an error message.

    Unlike ``repr`` it never recurses (a list nested 1,000 deep has a ``repr`` that
    raises) and never prints more than a few dozen characters.
    """
    if isinstance(value, str):
        shown = value[:PREVIEW_LENGTH]
        return repr(shown) + ("…" if len(value) > PREVIEW_LENGTH else "")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10**PREVIEW_LENGTH else None
        return str(value) if digits is not None else "an integer of more than 60 digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}"
    if isinstance(value, dict):
        return f"an object of {len(value)} key{'s' * (len(value) != 1)}"
    return f"a {type(value).__name__}"


def cut(text: str, limit: int) -> str:
    """``text`` without NUL characters, at most ``limit`` characters long."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_int(value: int | None, name: str, problems: list[str], *, bits: int = 64) -> int | None:
    """``value`` if a signed integer column of ``bits`` can hold it, else ``None``."""
    if value is None:
        return None
    low, high = (INT32_MIN, INT32_MAX) if bits == 32 else (INT64_MIN, INT64_MAX)
    if low <= value <= high:
        return value
    problems.append(f"{name}: {describe(value)} is out of range; dropped")
    return None


def fit_float(value: float | None, name: str, problems: list[str]) -> float | None:
    """``value`` if it is a finite number, else ``None``."""
    if value is None or math.isfinite(value):
        return value
    problems.append(f"{name}: {value!r} is not a finite number; dropped")
    return None


def fit_datetime(value: datetime | None, name: str, problems: list[str]) -> datetime | None:
    """``value`` in UTC, or ``None`` when it has no zone or no UTC equivalent."""
    if value is None:
        return None
    if value.tzinfo is None:
        problems.append(f"{name}: a time without a zone; dropped")
        return None
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        problems.append(f"{name}: {value.isoformat()} has no UTC equivalent; dropped")
        return None


def fit_text(
    value: str | None, name: str, problems: list[str], *, limit: int, whole: bool = False
) -> str | None:
    """``value`` without NUL, cut to ``limit``; with ``whole``, dropped rather than cut
    (an identifier cut short names something else)."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    if len(value) <= limit:
        return value
    if whole:
        problems.append(f"{name}: longer than {limit} characters; dropped")
        return None
    problems.append(f"{name}: longer than {limit} characters; cut")
    return value[: limit - 1] + "…"


def fit_urls(urls: Iterable[str], problems: list[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for url in urls:
        clean = url.replace("\x00", "") if "\x00" in url else url
        if len(clean) > URL_LENGTH:
            problems.append(f"result_urls: a URL longer than {URL_LENGTH} characters; dropped")
        elif len(kept) >= MAX_RESULT_URLS:
            problems.append(f"result_urls: more than {MAX_RESULT_URLS}; the rest dropped")
            break
        else:
            kept.append(clean)
    return tuple(kept)


def fit_snapshot(snapshot: TaskSnapshot) -> tuple[TaskSnapshot, list[str]]:
    """The snapshot with every field fitted to its task column, and what was dropped."""
    problems: list[str] = []
    fitted = dataclasses.replace(
        snapshot,
        state=fit_text(snapshot.state, "state", problems, limit=STATE_LENGTH) or "",
        provider_task_id=fit_text(
            snapshot.provider_task_id,
            "provider_task_id",
            problems,
            limit=PROVIDER_TASK_ID_LENGTH,
            whole=True,
        ),
        result_urls=fit_urls(snapshot.result_urls, problems),
        error_code=fit_text(snapshot.error_code, "error_code", problems, limit=ERROR_CODE_LENGTH),
        error_message=fit_text(
            snapshot.error_message, "error_message", problems, limit=ERROR_MESSAGE_LENGTH
        ),
        credits_used=fit_float(snapshot.credits_used, "credits_used", problems),
        credits_refunded=fit_float(snapshot.credits_refunded, "credits_refunded", problems),
        remaining_credits=fit_float(snapshot.remaining_credits, "remaining_credits", problems),
        provider_created_at=fit_datetime(
            snapshot.provider_created_at, "provider_created_at", problems
        ),
        provider_completed_at=fit_datetime(
            snapshot.provider_completed_at, "provider_completed_at", problems
        ),
        provider_cost_ms=fit_int(snapshot.provider_cost_ms, "provider_cost_ms", problems, bits=32),
        result_expires_at=fit_datetime(snapshot.result_expires_at, "result_expires_at", problems),
    )
    return (fitted if problems or fitted != snapshot else snapshot), problems


def fit_notes(notes: Iterable[str]) -> list[str]:
    """Parse errors as stored: each bounded, at most :data:`MAX_PARSE_ERRORS`."""
    kept: list[str] = []
    for note in notes:
        if len(kept) == MAX_PARSE_ERRORS:
            kept.append("… more problems not kept")
            break
        kept.append(cut(note, PARSE_ERROR_LENGTH))
    return kept


def json_problems(document: Any, *, where: str = "") -> list[str]:
    """Why ``document`` could not be stored and serialised as it is (empty: it can).

    Each problem names the place (``params.size[2]``). Iterative, and it stops at the
    first few problems: a hostile document costs at most :data:`MAX_JSON_VALUES` steps.
    """
    problems: list[str] = []
    _walk(document, where, problems, fix=False)
    return problems


def fit_json(document: Any) -> tuple[Any, list[str]]:
    """A copy of ``document`` that every engine and encoder accepts, and what changed.

    An integer beyond 64 bits becomes its decimal text (up to 60 digits, else
    ``None``); a non-finite number ``None``; NUL characters are removed; what lies
    deeper than :data:`MAX_JSON_DEPTH` or past :data:`MAX_JSON_VALUES` becomes ``None``.
    """
    problems: list[str] = []
    fitted = _walk(document, "", problems, fix=True)
    return fitted, problems


def dumps(document: Any) -> bytes:
    """``document`` as JSON bytes; never raises for what JSON parsers produce.

    The fast path is orjson as is; a document it refuses (an integer beyond 64 bits,
    nesting past 255) is fitted first.
    """
    try:
        return orjson.dumps(document)
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(fit_json(document)[0])


def compact_text(value: Any) -> str | None:
    """A JSON value (object or list) as compact text, or ``None`` when it is too deep
    or too large to keep; what ``failCode`` and friends become when they are not text."""
    if json_problems(value):
        return None
    return orjson.dumps(value).decode()


_MAX_PROBLEMS = 5  # named per document; the rest are counted


def _walk(document: Any, where: str, problems: list[str], *, fix: bool) -> Any:
    """Check (and with ``fix``, rebuild) ``document`` without recursion.

    The stack holds (value, path, depth, container to fill, key in it). Siblings are
    pushed last-first, so each container is filled in its original order.
    """
    found: list[str] = []
    more = 0

    def note(path: str, problem: str) -> None:
        nonlocal more
        if len(found) < _MAX_PROBLEMS:
            found.append(f"{path or 'value'}: {problem}")
        else:
            more += 1

    root: list[Any] = [None]
    stack: list[tuple[Any, str, int, Any, Any]] = [(document, where, 0, root, 0)]
    seen = 0
    while stack and (fix or not found):
        value, path, depth, parent, key = stack.pop()
        seen += 1
        fitted, problem = _leaf(value)
        if problem is None and seen > MAX_JSON_VALUES:
            fitted, problem = None, f"past the first {MAX_JSON_VALUES} values"
        elif problem is None and isinstance(value, dict | list | tuple) and depth >= MAX_JSON_DEPTH:
            fitted, problem = None, f"nested deeper than {MAX_JSON_DEPTH} levels"
        if problem is not None:
            note(path, problem)
        elif isinstance(value, dict):
            fitted = {}
            for name, item in reversed(list(value.items())):
                text = str(name)
                if "\x00" in text:
                    note(path, "a key holds a NUL character")
                    text = text.replace("\x00", "")
                child = f"{path}.{text}" if path else text
                stack.append((item, child, depth + 1, fitted, text))
        elif isinstance(value, list | tuple):
            fitted = [None] * len(value)
            for index in range(len(value) - 1, -1, -1):
                stack.append((value[index], f"{path}[{index}]", depth + 1, fitted, index))
        parent[key] = fitted
    if more:
        found.append(f"… and {more} more")
    problems.extend(found)
    return root[0]


def _leaf(value: Any) -> tuple[Any, str | None]:
    """A scalar fitted, and the problem if it had to be; containers pass unchanged."""
    if isinstance(value, bool) or value is None:
        return value, None
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return value, None
        text = str(value) if abs(value) < 10**PREVIEW_LENGTH else None
        return text, f"{describe(value)} is beyond 64 bits"
    if isinstance(value, float):
        if math.isfinite(value):
            return value, None
        return None, f"{value!r} is not a finite number"
    if isinstance(value, str):
        if "\x00" in value:
            return value.replace("\x00", ""), "a NUL character"
        return value, None
    if isinstance(value, dict | list | tuple):
        return value, None
    return None, f"{describe(value)} is not a JSON value"
