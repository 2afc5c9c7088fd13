"""Leased claims of due rows: how several workers share work without doing it twice.

A claimable table has a "due at" column and ``lease_holder`` / ``lease_expires_at``.
:func:`claim_due` marks up to ``limit`` due, unleased rows as held by ``holder`` until
``now + lease`` and returns their keys, in one statement:

    UPDATE t SET lease_holder = :holder, lease_expires_at = :until
    WHERE pk IN (SELECT pk FROM t
                 WHERE due <= :now AND (lease_expires_at IS NULL OR lease_expires_at <= :now)
                 ORDER BY due LIMIT :limit
                 FOR UPDATE SKIP LOCKED)          -- PostgreSQL only
    RETURNING pk

On PostgreSQL ``SKIP LOCKED`` lets concurrent claimers pass each other's rows instead
of waiting or double-claiming; on SQLite the whole statement runs under the single
writer lock (``BEGIN IMMEDIATE``), which gives the same guarantee. The inner query is
a range scan on an index over the due column, and rows that are not due (terminal
tasks keep it NULL) are never visited: the cost follows the number of due rows, not
the size of the table.

A worker that dies simply lets its leases expire; one that stops cleanly gives back
what it still holds at once (:func:`release_held`). Either way the row keeps its
``lease_holder``: a due row whose lease ran out while it still names a holder was
being worked on when that worker went away, and :func:`claim_due_noting` tells the
next claimer so (the dispatcher records the attempt as interrupted). A pass that
may outlast its lease renews it while it runs (:func:`renew`), so leases can be
short and takeover after a crash fast.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Column, or_, select, update
from sqlmodel import SQLModel
from sqlmodel import select as select_models
from sqlmodel.ext.asyncio.session import AsyncSession

ModelT = TypeVar("ModelT", bound=SQLModel)


def worker_id() -> str:
    """Lease holder name: unique per process and readable by an operator."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def claim_due(
    session: AsyncSession,
    model: type[SQLModel],
    *,
    due_column: str,
    now: datetime,
    holder: str,
    lease: timedelta,
    limit: int,
    extra_filters: tuple[Any, ...] = (),
) -> list[Any]:
    """Lease up to ``limit`` due rows of ``model`` to ``holder``; returns their keys.

    Runs inside the caller's transaction; the claim holds once that commits.
    """
    table = model.__table__  # type: ignore[attr-defined]
    statement = _claim_statement(table, due_column, now, holder, lease, limit, extra_filters)
    result = await session.exec(statement)
    return list(result.scalars().all())


async def claim_due_noting(
    session: AsyncSession,
    model: type[SQLModel],
    *,
    due_column: str | None,
    now: datetime,
    holder: str,
    lease: timedelta,
    limit: int,
    extra_filters: tuple[Any, ...] = (),
) -> list[tuple[Any, str | None]]:
    """:func:`claim_due`, also naming for each key the holder whose lease ran out on
    it unfinished (``None`` for a row nobody was working on). ``due_column=None``
    claims unleased rows that ``extra_filters`` select, due or not.

    The candidates are selected and locked first (``FOR UPDATE SKIP LOCKED``; on
    SQLite the write lock), then leased: two statements, one claim.
    """
    table = model.__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    candidates = _candidates(table, due_column, now, limit, extra_filters).add_columns(
        table.c.lease_holder
    )
    found = [(row[0], row[1]) for row in (await session.exec(candidates)).all()]
    if found:
        await session.exec(
            update(table)
            .where(key.in_([k for k, _ in found]))
            .values(lease_holder=holder, lease_expires_at=now + lease)
        )
    return found


async def renew(
    session: AsyncSession, model: type[SQLModel], keys: list[Any], *, holder: str, until: datetime
) -> int:
    """Extend ``holder``'s leases on ``keys`` to ``until`` (rows it no longer holds stay)."""
    table = model.__table__  # type: ignore[attr-defined]
    (key,) = table.primary_key.columns
    result = await session.exec(
        update(table)
        .where(key.in_(keys), table.c.lease_holder == holder)
        .values(lease_expires_at=until)
    )
    return int(result.rowcount)


async def release_held(
    session: AsyncSession, model: type[SQLModel], *, holder: str, now: datetime
) -> int:
    """Let every live lease of ``holder`` on ``model`` run out now; returns how many.

    The holder's name stays on the rows: one still due was interrupted, and its next
    claimer is told (:func:`claim_due_noting`).
    """
    table = model.__table__  # type: ignore[attr-defined]
    result = await session.exec(
        update(table)
        .where(table.c.lease_holder == holder, table.c.lease_expires_at > now)
        .values(lease_expires_at=now)
    )
    return int(result.rowcount)


def _candidates(
    table: Any, due_column: str | None, now: datetime, limit: int, extra_filters: tuple[Any, ...]
) -> Any:
    """Unleased rows that are due (``due_column`` NULL: every unleased row the filters pick)."""
    (key,) = table.primary_key.columns
    lease_expires: Column[Any] = table.c.lease_expires_at
    due: Column[Any] = table.c[due_column] if due_column is not None else key
    conditions = [or_(lease_expires.is_(None), lease_expires <= now), *extra_filters]
    if due_column is not None:
        conditions.append(due <= now)
    return (
        select(key).where(*conditions).order_by(due).limit(limit).with_for_update(skip_locked=True)
    )


def _claim_statement(
    table: Any,
    due_column: str,
    now: datetime,
    holder: str,
    lease: timedelta,
    limit: int,
    extra_filters: tuple[Any, ...],
) -> Any:
    (key,) = table.primary_key.columns
    candidates = _candidates(table, due_column, now, limit, extra_filters)
    return (
        update(table)
        .where(key.in_(candidates.scalar_subquery()))
        .values(lease_holder=holder, lease_expires_at=now + lease)
        .returning(key)
    )


async def claim_due_rows(
    session: AsyncSession,
    model: type[ModelT],
    *,
    due_column: str,
    now: datetime,
    holder: str,
    lease: timedelta,
    limit: int,
) -> list[ModelT]:
    """:func:`claim_due`, then the claimed rows themselves, in key order."""
    keys = await claim_due(
        session, model, due_column=due_column, now=now, holder=holder, lease=lease, limit=limit
    )
    if not keys:
        return []
    (key,) = model.__table__.primary_key.columns  # type: ignore[attr-defined]
    rows = await session.exec(select_models(model).where(key.in_(keys)).order_by(key))
    return list(rows.all())
