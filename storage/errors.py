"""Errors raised by the storage package.

``storage`` imports nothing from ``receiver``, so this is a root of its own;
:mod:`receiver.services` translates these where receiver meets them.
"""

from __future__ import annotations


class StorageError(Exception):
    """Root of everything storage raises on purpose."""


class UnsupportedDatabaseError(StorageError):
    """A database URL whose dialect or driver genhook does not run on."""
