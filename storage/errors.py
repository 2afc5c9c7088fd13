"""Errors raised by the storage package.

``storage`` imports nothing from ``receiver``, so this is a root of its own;
:mod:`receiver.services` translates these where receiver meets them.
"""

from __future__ import annotations


class StorageError(Exception):
    """Root of everything storage raises on purpose."""


class UnsupportedDatabaseError(StorageError):
    """A database URL whose dialect or driver genhook does not run on."""


# SQLSTATE classes that mean "the database is not there right now", not "this
# statement is wrong": connection exceptions, operator intervention (a cancelled
# statement: statement_timeout; a server shutting down or starting), and
# insufficient resources (too many connections).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57", "53")


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database did not answer (refused, timed out,
    dropped the connection, cancelled the statement), so a retry later can succeed.

    The drivers say it in several ways: SQLAlchemy's ``OperationalError`` and
    ``InterfaceError``, a pool timeout, a bare ``OSError`` or ``TimeoutError`` from
    a connect, or a generic ``DBAPIError`` around an asyncpg error whose SQLSTATE
    says so (a cancelled statement arrives like that).
    """
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    if isinstance(
        exc, OperationalError | InterfaceError | PoolTimeoutError | OSError | TimeoutError
    ):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        for cause in (exc.orig, getattr(exc.orig, "__cause__", None)):
            state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
            if isinstance(state, str) and state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES:
                return True
            if isinstance(cause, OSError | TimeoutError):
                return True
    return False
