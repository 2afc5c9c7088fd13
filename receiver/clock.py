"""The one clock of the service.

Every module asks ``clock.utcnow()`` (through the module, never ``from ... import``)
so tests can move time by patching this single function.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 with a ``Z`` (as the API writes times), or None."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")
