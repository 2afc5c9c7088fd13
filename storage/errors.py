"""Errors raised by the storage package."""

from __future__ import annotations

from receiver.errors import GenhookError


class StorageError(GenhookError):
    """Root of everything storage raises on purpose."""


class UnsupportedDatabaseError(StorageError):
    """A database URL whose dialect or driver genhook does not run on."""


class MigrationRequiredError(StorageError):
    """The database schema is behind the code: run ``genhook db upgrade``."""
