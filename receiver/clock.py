"""The one clock of the service.

Every module asks ``clock.utcnow()`` (through the module, never ``from ... import``)
so tests can move time by patching this single function.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
