"""The simulator's one configuration object.

Everything a test, a demo or a benchmark may want to turn is a field here, and every
field is also a ``genhook simulate`` flag (see :mod:`receiver.cli.simulate`) and can be
changed on a running simulator through ``PATCH /_sim/config``. Validation lives on the
model so a bad runtime change is refused before it replaces the live settings.

All durations are in *simulated* seconds: the simulator multiplies every one of them
(task durations, callback backoff and timeouts, the background retry horizon, slow
responses, the ``Retry-After`` hint) by ``time_factor``, so ``time_factor=0.01`` runs a
documented 30-minute callback retry horizon in 18 real seconds.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

GATEWAYS: tuple[str, ...] = ("apimodels", "apimall", "apimart")


class SimulatorConfig(BaseModel):
    """Settings of one simulator; immutable, replaced whole on a runtime change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: str | None = Field(
        default=None, description="bearer every request must carry; None accepts any non-empty"
    )
    time_factor: float = Field(default=1.0, gt=0, description="multiplier for every delay")
    seed: int | None = Field(default=None, description="seed of the fault dice; None = random")

    # Task progression.
    task_duration: float = Field(default=10.0, ge=0, description="seconds from create to done")
    pending_share: float = Field(
        default=0.2, ge=0, le=1, description="share of task_duration spent in 'pending'"
    )
    failure_rate: float = Field(default=0.0, ge=0, le=1, description="P(generation fails)")
    image_size: int = Field(default=64, ge=1, le=1024, description="side of result PNGs, px")

    # API Mall billing.
    apimall_credits: int = Field(default=1000, ge=0, description="API Mall starting balance")
    apimall_credits_per_image: int = Field(default=8, ge=0, description="credits per image")

    # APIMart batch query.
    apimart_batch_limit: int = Field(default=100, ge=1, description="max task_ids per batch")

    # apimodels callback delivery, as documented: 3 retries at 1/2/4 s, 10 s per attempt,
    # then background retries for up to 30 minutes until a 2xx.
    callback_backoff: tuple[float, ...] = Field(default=(1.0, 2.0, 4.0))
    callback_timeout: float = Field(default=10.0, gt=0)
    callback_background_interval: float = Field(default=60.0, gt=0)
    callback_retry_horizon: float = Field(default=1800.0, ge=0)

    # Callback faults.
    callback_drop_rate: float = Field(default=0.0, ge=0, le=1, description="P(never sent)")
    callback_duplicates: int = Field(default=0, ge=0, le=20, description="extra copies sent")
    callback_delay: float = Field(default=0.0, ge=0, description="seconds before sending")
    callback_reorder: bool = Field(default=False, description="shuffle callbacks due together")
    callback_reorder_window: float = Field(
        default=1.0, ge=0, description="seconds to gather callbacks before shuffling them"
    )

    # HTTP faults on provider endpoints.
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1, description="P(429)")
    retry_after: float = Field(default=1.0, ge=0, description="Retry-After hint on 429")
    server_error_rate: float = Field(default=0.0, ge=0, le=1, description="P(5xx)")
    slow_response: float = Field(default=0.0, ge=0, description="seconds added to responses")
    fault_scope: tuple[str, ...] = Field(
        default=(),
        description="gateway names or path prefixes the HTTP faults apply to; empty = all "
        "provider endpoints",
    )

    @field_validator("fault_scope")
    @classmethod
    def _check_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if entry not in GATEWAYS and not entry.startswith("/"):
                raise ValueError(
                    f"fault_scope entry {entry!r} is neither a gateway "
                    f"({', '.join(GATEWAYS)}) nor a path prefix starting with '/'"
                )
        return value

    @field_validator("callback_backoff")
    @classmethod
    def _check_backoff(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("callback_backoff delays must be >= 0")
        return value

    def scaled(self, seconds: float) -> float:
        """Real seconds for ``seconds`` of simulated time."""
        return seconds * self.time_factor

    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds (RFC 9110), scaled and rounded up."""
        return str(math.ceil(self.scaled(self.retry_after)))

    def updated(self, changes: dict[str, Any]) -> SimulatorConfig:
        """A validated copy with ``changes`` applied (raises ``pydantic.ValidationError``)."""
        return SimulatorConfig.model_validate({**self.model_dump(), **changes})
