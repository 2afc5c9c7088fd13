"""Provider pressure: back off a provider as a whole, not task by task.

A 429 means the *provider* wants fewer requests, and repeated 5xx or timeouts mean it
is struggling; hammering it once per task would make both worse. This module keeps,
per provider, a rate-limit window (``Retry-After``) and a circuit breaker:

* closed: calls go through; consecutive failures are counted;
* open: after ``failures_to_open`` consecutive failures, nothing is called until the
  cooldown ends (the cooldown doubles each time the circuit reopens, up to a cap);
* half-open: after the cooldown a single probe call is allowed; success closes the
  circuit, failure reopens it.

Pure state machine: every method takes ``now``; the poller owns one instance per
process. A provider outage therefore only *delays* polls; it never fails a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class _ProviderHealth:
    consecutive_failures: int = 0
    open_until: datetime | None = None
    cooldown: float = 0.0
    rate_limited_until: datetime | None = None
    probing: bool = False


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether a provider may be called now, and if not, until when to wait."""

    allowed: bool
    wait_until: datetime | None = None
    probe_only: bool = False  # half-open: make one small call to test the water
    reason: str | None = None


class ProviderPressure:
    def __init__(
        self,
        *,
        failures_to_open: int = 5,
        base_cooldown: float = 15.0,
        max_cooldown: float = 300.0,
        max_retry_after: float = 600.0,
    ) -> None:
        self._failures_to_open = failures_to_open
        self._base_cooldown = base_cooldown
        self._max_cooldown = max_cooldown
        self._max_retry_after = max_retry_after
        self._health: dict[str, _ProviderHealth] = {}

    def gate(self, provider: str, now: datetime) -> Gate:
        health = self._health.get(provider)
        if health is None:
            return Gate(True)
        if health.rate_limited_until and now < health.rate_limited_until:
            return Gate(False, health.rate_limited_until, reason="rate limited (Retry-After)")
        if health.open_until is not None:
            if now < health.open_until:
                return Gate(False, health.open_until, reason="circuit open after failures")
            if health.probing:
                # a probe is already out; wait for its verdict
                return Gate(False, now + timedelta(seconds=1), reason="probing after outage")
            health.probing = True
            return Gate(True, probe_only=True, reason="probing after outage")
        return Gate(True)

    def state(self, provider: str, now: datetime) -> CircuitState:
        health = self._health.get(provider)
        if health is None or health.open_until is None:
            return CircuitState.CLOSED
        return CircuitState.OPEN if now < health.open_until else CircuitState.HALF_OPEN

    def record_success(self, provider: str) -> None:
        health = self._health.setdefault(provider, _ProviderHealth())
        health.consecutive_failures = 0
        health.open_until = None
        health.cooldown = 0.0
        health.probing = False

    def record_rate_limit(self, provider: str, retry_after: float | None, now: datetime) -> None:
        """Honour ``Retry-After`` for the whole provider (clamped; 1 s when absent)."""
        health = self._health.setdefault(provider, _ProviderHealth())
        wait = min(max(retry_after or 1.0, 0.0), self._max_retry_after)
        until = now + timedelta(seconds=wait)
        if health.rate_limited_until is None or until > health.rate_limited_until:
            health.rate_limited_until = until
        health.probing = False

    def record_failure(self, provider: str, now: datetime) -> None:
        """A 5xx, timeout or connection error: count it; open the circuit when too many."""
        health = self._health.setdefault(provider, _ProviderHealth())
        health.consecutive_failures += 1
        reopening = health.open_until is not None
        if reopening or health.consecutive_failures >= self._failures_to_open:
            health.cooldown = min(
                self._max_cooldown,
                health.cooldown * 2 if reopening and health.cooldown else self._base_cooldown,
            )
            health.open_until = now + timedelta(seconds=health.cooldown)
        health.probing = False
