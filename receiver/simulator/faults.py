"""HTTP fault injection: the rate limits, outages and slowness a real gateway has.

genhook must honour ``Retry-After``, back off on 5xx and survive slow answers; these
faults let its tests and benchmarks prove that without waiting for a bad day at a real
provider. Which requests are affected is set by ``fault_scope``: gateway names
(``apimart``) and/or path prefixes (``/v1/tasks/batch``, ``/files``). An empty scope
means every provider API endpoint; result downloads under ``/files`` and the ``/_sim``
control endpoints are only affected when a path prefix names them explicitly (and
``/_sim`` never is, so a test can always read the counters).

Dice come from the simulator's one seeded :class:`random.Random`, and a die is only
rolled when its probability is above zero, so enabling one fault does not change the
sequence another fault sees.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from receiver.simulator.config import SimulatorConfig

CONTROL_PREFIX = "/_sim"


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request: wait ``delay`` real seconds, then maybe fail it."""

    delay: float = 0.0
    kind: FaultKind | None = None


NO_FAULT = FaultPlan()


def in_scope(scope: tuple[str, ...], gateway: str | None, path: str) -> bool:
    """Whether HTTP faults apply to a request for ``path`` served by ``gateway``."""
    if path.startswith(CONTROL_PREFIX):
        return False
    if not scope:
        return gateway is not None
    return any(
        entry == gateway if not entry.startswith("/") else path.startswith(entry) for entry in scope
    )


def roll(rng: random.Random, probability: float) -> bool:
    """True with ``probability``; consumes no randomness when it is zero."""
    return probability > 0 and rng.random() < probability


def plan_faults(
    config: SimulatorConfig, rng: random.Random, gateway: str | None, path: str
) -> FaultPlan:
    """Decide the faults for one request: rate limit first, then server error."""
    if not in_scope(config.fault_scope, gateway, path):
        return NO_FAULT
    delay = config.scaled(config.slow_response)
    if roll(rng, config.rate_limit_rate):
        return FaultPlan(delay, FaultKind.RATE_LIMIT)
    if roll(rng, config.server_error_rate):
        return FaultPlan(delay, FaultKind.SERVER_ERROR)
    return FaultPlan(delay) if delay > 0 else NO_FAULT
