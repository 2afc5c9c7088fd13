"""The one typed settings object, read once from ``GENHOOK_*`` variables and ``.env``.

Everything configurable lives here with the default the issues name, so the README's
configuration table and the code cannot drift apart: ``genhook config`` prints this
object. Nothing else in the service reads the environment.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from receiver.cadence import Cadence

ProviderName = Literal["apimodels", "apimall", "apimart"]

DEFAULT_BASE_URLS: dict[str, str] = {
    "apimodels": "https://apimodels.app",
    "apimall": "https://gateway.apimall.ai",
    "apimart": "https://api.apimart.ai",
}


class Settings(BaseSettings):
    """genhook's configuration. Field names map to ``GENHOOK_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="GENHOOK_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(default=Path(".genhook"), description="SQLite file, secret, assets")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in data_dir"
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="base URL providers call back on"
    )
    secret: SecretStr | None = Field(
        default=None, description="callback-token secret; default: generated in data_dir"
    )
    api_token: SecretStr | None = Field(
        default=None, description="bearer token for /api/*; unset: loopback only"
    )
    host: str = Field(default="127.0.0.1", description="address `genhook serve` binds")
    port: int = Field(default=8000, ge=0, le=65535, description="port `genhook serve` binds")
    log_level: str = Field(default="info", description="uvicorn and genhook log level")

    callback_max_body: int = Field(
        default=256 * 1024, gt=0, description="largest callback body accepted (bytes)"
    )
    task_deadline_seconds: float = Field(
        default=30 * 60, gt=0, description="time after which an unfinished task expires"
    )

    # Downstream delivery (receiver.delivery.dispatcher, receiver.delivery.schedule).
    delivery_timeout_seconds: float = Field(
        default=15, gt=0, description="how long a subscriber has to answer one webhook"
    )
    delivery_schedule: tuple[float, ...] = Field(
        default=(5, 300, 1800, 7200, 18000, 36000, 36000),
        description="seconds before each retry (the first attempt is immediate); after "
        "the last retry fails the delivery is dead-lettered",
    )
    delivery_jitter: float = Field(
        default=0.2, ge=0, lt=1, description="± share of random spread on every retry delay"
    )
    delivery_disable_after_seconds: float = Field(
        default=5 * 24 * 3600,
        gt=0,
        description="a subscriber failing continuously this long is disabled",
    )
    delivery_allow_private_targets: bool = Field(
        default=False,
        description="allow subscriber URLs on private, loopback or link-local addresses",
    )
    delivery_retry_after_max_seconds: float = Field(
        default=3600, ge=0, description="longest wait a Retry-After header can impose"
    )
    delivery_rotation_window_seconds: float = Field(
        default=24 * 3600,
        ge=0,
        description="after a secret rotation, how long the old secret still signs",
    )
    dispatch_tick_seconds: float = Field(
        default=1.0, gt=0, description="how often the dispatcher looks for due deliveries"
    )
    dispatch_batch_size: int = Field(
        default=32, gt=0, description="deliveries claimed (and sent concurrently) per pass"
    )
    events_poll_seconds: float = Field(
        default=0.5, gt=0, description="how often the live event stream checks for new events"
    )
    events_gap_seconds: float = Field(
        default=5,
        ge=0,
        description="how long the live stream waits for an event id still being committed",
    )

    # Result-image mirroring (receiver.assets.mirror) and the /assets route.
    assets_mirror: bool = Field(
        default=True,
        description="download completed tasks' result images into the asset store",
    )
    assets_dir: Path | None = Field(
        default=None, description="where mirrored images are stored; default: data_dir/assets"
    )
    assets_max_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, description="largest result image kept (bytes)"
    )
    assets_allow_private: bool = Field(
        default=False,
        description="allow result URLs on private, loopback or link-local addresses "
        "(the local simulator needs it)",
    )
    assets_retry_horizon_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description="how long after completion a failing download is retried when the "
        "provider gives no expires_at",
    )
    assets_retry_first_seconds: float = Field(
        default=10, gt=0, description="wait before the second download attempt; doubles"
    )
    assets_retry_max_seconds: float = Field(
        default=1800, gt=0, description="longest wait between download attempts"
    )
    assets_timeout_seconds: float = Field(
        default=120, gt=0, description="most time one image download may take"
    )
    assets_tick_seconds: float = Field(
        default=1.0, gt=0, description="how often the mirror looks for images to download"
    )
    assets_batch_size: int = Field(default=16, gt=0, description="images claimed per pass")
    assets_concurrency: int = Field(default=4, gt=0, description="parallel downloads per pass")

    stuck_after_seconds: float = Field(
        default=120, gt=0, description="age after which an unfinished task counts as stuck"
    )
    run_background: bool = Field(
        default=True,
        description="run poller and dispatcher in `genhook serve` (off for a web-only process)",
    )
    reconcile_every_seconds: float = Field(
        default=30, gt=0, description="how often unconfirmed submissions are settled"
    )

    provider_retry_attempts: int = Field(
        default=4, ge=1, description="tries per provider call where a retry can help"
    )
    provider_retry_budget_seconds: float = Field(
        default=20, ge=0, description="most time one provider call may spend waiting to retry"
    )
    poll_tick_seconds: float = Field(default=1.0, gt=0, description="how often the poller runs")
    poll_batch_size: int = Field(default=200, gt=0, description="tasks claimed per poller pass")
    poll_lease_seconds: float = Field(
        default=60, gt=0, description="how long a claimed task is reserved for its poller"
    )
    poll_jitter: float = Field(default=0.1, ge=0, lt=1, description="± share on every interval")
    poll_concurrency: int = Field(
        default=4, gt=0, description="parallel status requests per provider"
    )
    expire_grace_seconds: float = Field(
        default=600,
        ge=0,
        description="after the deadline, how long the last poll may be retried before expiring",
    )
    circuit_failures: int = Field(
        default=5, gt=0, description="consecutive provider failures that open its circuit"
    )
    circuit_cooldown_seconds: float = Field(
        default=15, gt=0, description="first circuit cooldown; doubles while it keeps failing"
    )
    circuit_max_cooldown_seconds: float = Field(default=300, gt=0)
    # Per-provider cadence: first poll after submission and base interval are ranges
    # (seconds, drawn uniformly); growth multiplies the interval per unchanged poll.
    apimodels_poll_first: tuple[float, float] = Field(
        default=(60, 60), description="grace period with no callback before polling"
    )
    apimodels_poll_interval: tuple[float, float] = (15, 15)
    apimodels_poll_growth: float = Field(default=1.5, ge=1)
    apimodels_poll_max_interval: float = Field(default=300, gt=0)
    apimall_poll_first: tuple[float, float] = (3, 5)
    apimall_poll_interval: tuple[float, float] = (3, 5)
    apimall_poll_growth: float = Field(default=1.2, ge=1)
    apimall_poll_max_interval: float = Field(default=30, gt=0)
    apimart_poll_first: tuple[float, float] = (10, 20)
    apimart_poll_interval: tuple[float, float] = (3, 5)
    apimart_poll_growth: float = Field(default=1.0, ge=1)
    apimart_poll_max_interval: float = Field(default=5, gt=0)

    apimodels_api_key: SecretStr | None = None
    apimall_api_key: SecretStr | None = None
    apimart_api_key: SecretStr | None = None
    apimodels_base_url: str = DEFAULT_BASE_URLS["apimodels"]
    apimall_base_url: str = DEFAULT_BASE_URLS["apimall"]
    apimart_base_url: str = DEFAULT_BASE_URLS["apimart"]

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: explicit, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'genhook.db').resolve()}"

    @property
    def resolved_assets_dir(self) -> Path:
        """Where mirrored images live: explicit, or ``assets`` in the data dir."""
        return self.assets_dir if self.assets_dir is not None else self.data_dir / "assets"

    @property
    def is_embedded_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def binds_loopback_only(self) -> bool:
        return is_loopback_host(self.host)

    def provider_api_key(self, provider: str) -> str | None:
        key: SecretStr | None = getattr(self, f"{provider}_api_key", None)
        return key.get_secret_value() if key else None

    def cadence(self, provider: str) -> Cadence:
        """The poll cadence configured for ``provider``."""
        return Cadence(
            first_delay=getattr(self, f"{provider}_poll_first"),
            interval=getattr(self, f"{provider}_poll_interval"),
            growth=getattr(self, f"{provider}_poll_growth"),
            max_interval=getattr(self, f"{provider}_poll_max_interval"),
            jitter=self.poll_jitter,
        )

    def provider_base_url(self, provider: str) -> str:
        url: str = getattr(self, f"{provider}_base_url")
        return url.rstrip("/")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
