"""API Mall's account: credits charged at submission, refunded when a task fails.

API Mall reports ``credits_used`` and ``remaining_credits`` on create and
``credits_refunded`` on the task once it has failed. Because a task's failure time is
known when it is created (see :mod:`receiver.simulator.state`), refunds are settled
lazily: the ledger keeps the future refunds in a heap and counts those that are due
whenever someone asks for the balance. No background job, and the balance a client sees
always agrees with the task states it sees.

The ledger also holds the ``Idempotency-Key`` memory: the same key with the same
request answers the same task without charging again; the same key with a different
request is the documented 409 conflict.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class CreditLedger:
    """Charges and scheduled refunds; the balance is ``start - charged + refunded``."""

    def __init__(self) -> None:
        self.charged = 0
        self._refunded = 0
        self._pending: list[tuple[datetime, int, int]] = []  # (due, sequence, amount)
        self._sequence = 0

    def charge(self, amount: int, *, refund_at: datetime | None = None) -> None:
        """Take ``amount``; give it back at ``refund_at`` (the task's failure time)."""
        self.charged += amount
        if refund_at is not None and amount > 0:
            self._sequence += 1
            heapq.heappush(self._pending, (refund_at, self._sequence, amount))

    def refunded(self, now: datetime) -> int:
        """Total refunded as of ``now``."""
        while self._pending and self._pending[0][0] <= now:
            self._refunded += heapq.heappop(self._pending)[2]
        return self._refunded

    def remaining(self, start: int, now: datetime) -> int:
        return start - self.charged + self.refunded(now)

    def reset(self) -> None:
        self.charged = 0
        self._refunded = 0
        self._pending.clear()


@dataclass(frozen=True, slots=True)
class IdempotentAnswer:
    """What a create request with a given key answered the first time."""

    fingerprint: str
    payload: dict[str, Any]


class IdempotencyCache:
    """``(api key, Idempotency-Key)`` → the first answer; kept for the simulator's life."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], IdempotentAnswer] = {}

    def get(self, token: str, key: str) -> IdempotentAnswer | None:
        return self._answers.get((token, key))

    def put(self, token: str, key: str, answer: IdempotentAnswer) -> None:
        self._answers[(token, key)] = answer

    def clear(self) -> None:
        self._answers.clear()
