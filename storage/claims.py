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
the size of the table. A worker that dies simply lets its leases expire.
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
    (key,) = table.primary_key.columns
    due: Column[Any] = table.c[due_column]
    lease_expires: Column[Any] = table.c.lease_expires_at
    candidates = (
        select(key)
        .where(
            due <= now,
            or_(lease_expires.is_(None), lease_expires <= now),
            *extra_filters,
        )
        .order_by(due)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(table)
        .where(key.in_(candidates.scalar_subquery()))
        .values(lease_holder=holder, lease_expires_at=now + lease)
        .returning(key)
    )
    result = await session.exec(statement)
    return list(result.scalars().all())


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
