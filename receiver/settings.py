"""The one typed settings object, read once from ``GENHOOK_*`` variables and ``.env``.

Everything configurable lives here with the default the issues name; nothing else in
the service reads the environment. The object is grouped in sections, and each part
of genhook receives only its own (the poller :class:`PollSettings` and the provider
cadences, the dispatcher :class:`DeliverySettings`...), wired in
:mod:`receiver.services`.

The environment names stay flat (``GENHOOK_DELIVERY_TIMEOUT_SECONDS``,
``GENHOOK_APIMALL_POLL_FIRST``): a variable's first word after the prefix names the
section and the rest the field (pydantic-settings' nested delimiter ``_`` split once).
Keyword arguments may use the same flat names (``Settings(delivery_timeout_seconds=5)``)
or a section (``Settings(delivery={"timeout_seconds": 5})``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from receiver.access import DEFAULT_DATA_DIR, DEFAULT_PORT
from receiver.assets.location import S3Location, parse_store_url
from receiver.cadence import Cadence

ProviderName = Literal["apimodels", "apimall", "apimart"]
PROVIDERS: tuple[ProviderName, ...] = ("apimodels", "apimall", "apimart")


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PollSettings(Section):
    """The fallback poller (``receiver.poller``)."""

    tick_seconds: float = Field(default=1.0, gt=0, description="how often the poller runs")
    batch_size: int = Field(default=200, gt=0, description="tasks claimed per poller pass")
    lease_seconds: float = Field(
        default=20,
        gt=0,
        description="how long a claimed task is reserved for its poller (renewed while its "
        "pass runs): how soon another worker takes over a crashed one's polls",
    )
    jitter: float = Field(default=0.1, ge=0, lt=1, description="± share on every interval")
    concurrency: int = Field(default=4, gt=0, description="parallel status requests per provider")


class CircuitSettings(Section):
    """Per-provider circuit breaker (``receiver.pressure``)."""

    failures: int = Field(
        default=5, gt=0, description="consecutive provider failures that open its circuit"
    )
    cooldown_seconds: float = Field(
        default=15, gt=0, description="first circuit cooldown; doubles while it keeps failing"
    )
    max_cooldown_seconds: float = Field(default=300, gt=0)


class ProviderCallSettings(Section):
    """Retries inside one provider call (``receiver.providers.retry``)."""

    retry_attempts: int = Field(
        default=4, ge=1, description="tries per provider call where a retry can help"
    )
    retry_budget_seconds: float = Field(
        default=20, ge=0, description="most time one provider call may spend waiting to retry"
    )


class ProviderSettings(Section):
    """One gateway: where it is, its key, and how often its tasks are polled.

    First poll and base interval are ranges (seconds, drawn uniformly); growth
    multiplies the interval per unchanged poll. Each gateway has its own subclass
    because their defaults differ.
    """

    api_key: SecretStr | None = None
    base_url: str
    poll_first: tuple[float, float]
    poll_interval: tuple[float, float]
    poll_growth: float = Field(ge=1)
    poll_max_interval: float = Field(gt=0)
    resubmit_unconfirmed: bool = Field(
        default=False,
        description="resubmit (once) a create this gateway never confirmed although its "
        "create is not idempotent: accepts the risk of paying twice",
    )
    unconfirmed_grace_seconds: float = Field(
        default=60,
        ge=0,
        description="how long an unconfirmed create waits before it fails as "
        "create_unconfirmed, where nothing (no callback, no lookup) can confirm it",
    )
    prices: dict[str, float] = Field(
        default_factory=dict,
        description='price per image by model, in price_unit, as JSON ({"model": 0.04}): '
        "what an attempt costs where the gateway reports nothing, and its budget estimate",
    )
    price_unit: str = Field(
        default="USD", max_length=16, description="the unit of prices and daily_budget"
    )
    daily_budget: float | None = Field(
        default=None,
        gt=0,
        description="most this gateway may cost per UTC day, in price_unit: an attempt "
        "that would pass it is not sent (a route moves on, a direct submission is refused)",
    )
    credits_low: float | None = Field(
        default=None,
        ge=0,
        description="a reported balance below this emits provider.credits_low (API Mall)",
    )

    @field_validator("prices")
    @classmethod
    def _prices_not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        negative = sorted(model for model, price in value.items() if price < 0)
        if negative:
            raise ValueError(f"prices must not be negative: {', '.join(negative)}")
        return value

    def cadence(self, jitter: float) -> Cadence:
        return Cadence(
            first_delay=self.poll_first,
            interval=self.poll_interval,
            growth=self.poll_growth,
            max_interval=self.poll_max_interval,
            jitter=jitter,
        )

    @property
    def key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/")


class ApimodelsSettings(ProviderSettings):
    base_url: str = "https://apimodels.app"
    poll_first: tuple[float, float] = Field(
        default=(60, 60), description="grace period with no callback before polling"
    )
    poll_interval: tuple[float, float] = (15, 15)
    poll_growth: float = Field(default=1.5, ge=1)
    poll_max_interval: float = Field(default=300, gt=0)


class ApimallSettings(ProviderSettings):
    base_url: str = "https://gateway.apimall.ai"
    price_unit: str = Field(
        default="credits", max_length=16, description="API Mall bills in credits"
    )
    poll_first: tuple[float, float] = (3, 5)
    poll_interval: tuple[float, float] = (3, 5)
    poll_growth: float = Field(default=1.2, ge=1)
    poll_max_interval: float = Field(default=30, gt=0)


class ApimartSettings(ProviderSettings):
    base_url: str = "https://api.apimart.ai"
    poll_first: tuple[float, float] = (10, 20)
    poll_interval: tuple[float, float] = (3, 5)
    poll_growth: float = Field(default=1.0, ge=1)
    poll_max_interval: float = Field(default=5, gt=0)


class ServerSettings(Section):
    """The HTTP server's defences against slow and broken clients (``receiver.web.server``)."""

    header_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="how long a connection may take to send a request's headers "
        "(also between requests on a kept-alive connection); then 408 and closed",
    )
    body_timeout_seconds: float = Field(
        default=30, gt=0, description="how long a request's body may take to arrive; then 408"
    )
    keep_alive_seconds: float = Field(
        default=5, gt=0, description="how long an idle kept-alive connection stays open"
    )
    limit_concurrency: int | None = Field(
        default=None,
        gt=0,
        description="connections and requests served at once, beyond which new requests get "
        "503; default: half the process's open-file limit, at most 2048",
    )

    def concurrency(self, open_files: int) -> int:
        """The effective limit, given the process's open-file limit (``ulimit -n``)."""
        if self.limit_concurrency is not None:
            return self.limit_concurrency
        return max(32, min(2048, open_files // 2))


class DeliverySettings(Section):
    """Downstream webhooks (``receiver.delivery``)."""

    timeout_seconds: float = Field(
        default=15, gt=0, description="how long a subscriber has to answer one webhook"
    )
    schedule: tuple[float, ...] = Field(
        default=(5, 300, 1800, 7200, 18000, 36000, 36000),
        description="seconds before each retry (the first attempt is immediate); after "
        "the last retry fails the delivery is dead-lettered",
    )
    jitter: float = Field(
        default=0.2, ge=0, lt=1, description="± share of random spread on every retry delay"
    )
    disable_after_seconds: float = Field(
        default=5 * 24 * 3600,
        gt=0,
        description="a subscriber failing continuously this long is disabled",
    )
    allow_private_targets: bool = Field(
        default=False,
        description="allow subscriber URLs on private, loopback or link-local addresses",
    )
    retry_after_max_seconds: float = Field(
        default=3600, ge=0, description="longest wait a Retry-After header can impose"
    )
    rotation_window_seconds: float = Field(
        default=24 * 3600,
        ge=0,
        description="after a secret rotation, how long the old secret still signs",
    )


class DispatchSettings(Section):
    """The webhook dispatcher's passes (``receiver.delivery.dispatcher``)."""

    tick_seconds: float = Field(
        default=1.0, gt=0, description="how often the dispatcher looks for due deliveries"
    )
    batch_size: int = Field(
        default=32, gt=0, description="deliveries claimed (and sent concurrently) per pass"
    )
    lease_seconds: float = Field(
        default=20,
        gt=0,
        description="how long a claimed delivery is reserved for its dispatcher (renewed "
        "while it is sent): how soon another worker takes over a crashed one's deliveries",
    )


class EventsSettings(Section):
    """The live event stream (``receiver.stream``)."""

    poll_seconds: float = Field(
        default=0.5, gt=0, description="how often the live event stream checks for new events"
    )
    gap_seconds: float = Field(
        default=5,
        ge=0,
        description="how long the live stream waits for an event id still being committed",
    )


class AssetsSettings(Section):
    """Result-image mirroring (``receiver.assets``) and the ``/assets`` route."""

    mirror: bool = Field(
        default=True, description="download completed tasks' result images into the asset store"
    )
    dir: Path | None = Field(
        default=None,
        description="where mirrored images are stored (with an S3 store: where downloads are "
        "staged before upload); default: data_dir/assets",
    )
    store: str | None = Field(
        default=None,
        description="where mirrored images are kept: unset for the local disk (`dir`), or "
        "`s3://bucket/prefix` for an S3-compatible bucket every process can reach",
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="the S3 server's URL (MinIO, SeaweedFS, R2...); unset: AWS for the region",
    )
    s3_region: str = Field(default="us-east-1", min_length=1, description="the bucket's region")
    s3_access_key_id: str | None = Field(
        default=None,
        description="S3 credentials; unset: the standard AWS chain (AWS_ACCESS_KEY_ID..., "
        "web identity, instance metadata)",
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="the secret that goes with `s3_access_key_id`"
    )
    s3_serve: Literal["stream", "redirect"] = Field(
        default="stream",
        description="/assets on an S3 store: stream the object through genhook, or redirect "
        "to a presigned URL of the S3 server",
    )
    s3_redirect_seconds: int = Field(
        default=300, gt=0, le=7 * 24 * 3600, description="how long a presigned URL is valid"
    )
    s3_timeout_seconds: float = Field(
        default=30, gt=0, description="most time one S3 request may take (connect: 5 s at most)"
    )
    max_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, description="largest result image kept (bytes)"
    )
    allow_private: bool = Field(
        default=False,
        description="allow result URLs on private, loopback or link-local addresses "
        "(the local simulator needs it)",
    )
    retry_horizon_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description="how long after completion a failing download is retried when the "
        "provider gives no expires_at",
    )
    retry_first_seconds: float = Field(
        default=10, gt=0, description="wait before the second download attempt; doubles"
    )
    retry_max_seconds: float = Field(
        default=1800, gt=0, description="longest wait between download attempts"
    )
    timeout_seconds: float = Field(
        default=120, gt=0, description="most time one image download may take"
    )
    tick_seconds: float = Field(
        default=1.0, gt=0, description="how often the mirror looks for images to download"
    )
    batch_size: int = Field(default=16, gt=0, description="images claimed per pass")
    lease_seconds: float = Field(
        default=20,
        gt=0,
        description="how long a claimed image is reserved for its mirror (renewed while it "
        "downloads): how soon another worker takes over a crashed one's downloads",
    )
    concurrency: int = Field(default=4, gt=0, description="parallel downloads per pass")

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str | None) -> str | None:
        if not value:
            return None
        parse_store_url(value)  # ValueError says what is wrong
        return value

    @field_validator("s3_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")) or value.endswith("://"):
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> AssetsSettings:
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "set both GENHOOK_ASSETS_S3_ACCESS_KEY_ID and GENHOOK_ASSETS_S3_SECRET_ACCESS_KEY, "
                "or neither (then the standard AWS credential chain is used)"
            )
        return self

    @property
    def s3_location(self) -> S3Location | None:
        """The bucket and prefix of an S3 store; None for the local disk."""
        return parse_store_url(self.store) if self.store else None


class DbSettings(Section):
    """How long genhook waits for the database before it says so (``storage.engine``).

    All well under the providers' 10 s callback timeout: a callback the database
    cannot take is answered 503 with ``Retry-After`` in time for the provider to
    retry, never left hanging. PostgreSQL only, except ``write_timeout_seconds``.
    """

    connect_timeout_seconds: float = Field(
        default=3, gt=0, description="opening a database connection"
    )
    command_timeout_seconds: float = Field(
        default=5,
        gt=0,
        description="one statement, as the client waits for it (a host that stopped answering)",
    )
    statement_timeout_seconds: float = Field(
        default=5, gt=0, description="one statement, as the server runs it (statement_timeout)"
    )
    pool_timeout_seconds: float = Field(
        default=3, gt=0, description="waiting for a free pooled connection"
    )
    write_timeout_seconds: float = Field(
        default=6,
        gt=0,
        description="most a callback waits for its commit before it is answered 503",
    )


class MetricsSettings(Section):
    """The Prometheus exposition (``receiver.metrics``)."""

    cache_seconds: float = Field(
        default=5,
        ge=0,
        description="how long the database-derived gauges (tasks by status, pending "
        "deliveries, dead letters) are reused between scrapes",
    )
    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="`genhook worker`: serve /metrics, /healthz and /readyz on this port",
    )
    host: str = Field(default="127.0.0.1", description="`genhook worker`: the metrics address")


class HealthSettings(Section):
    """Readiness and heartbeats (``receiver.heartbeat``, ``/readyz``)."""

    heartbeat_seconds: float = Field(
        default=10, gt=0, description="how often a process running background jobs says it lives"
    )
    live_after_missed: int = Field(
        default=3, ge=1, description="missed heartbeats after which a worker is no longer listed"
    )
    database_timeout_seconds: float = Field(
        default=2, gt=0, description="/readyz: how long the database may take to answer"
    )
    job_grace_seconds: float = Field(
        default=60,
        ge=0,
        description="/readyz: how late a background job may be (beyond three of its "
        "intervals) before the process reports not ready",
    )


class Settings(BaseSettings):
    """genhook's configuration. Field names map to ``GENHOOK_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="GENHOOK_",
        env_file=".env",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = Field(
        default=Path(DEFAULT_DATA_DIR), description="SQLite file, secrets, API token, assets"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in data_dir"
    )
    public_url: str | None = Field(
        default=None,
        description="base URL providers call back on; default: the address `genhook serve` "
        "binds (see resolved_public_url)",
    )
    secret: SecretStr | None = Field(
        default=None, description="callback-token secret; default: generated in data_dir"
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="bearer token for /api/*, the dashboard and /assets; default: generated "
        "once into data_dir/api-token",
    )
    api_max_body: int = Field(
        default=1024 * 1024, gt=0, description="largest admin API request body accepted (bytes)"
    )
    host: str = Field(default="127.0.0.1", description="address `genhook serve` binds")
    port: int = Field(
        default=DEFAULT_PORT, ge=0, le=65535, description="port `genhook serve` binds"
    )
    log_level: str = Field(default="info", description="uvicorn and genhook log level")
    log_format: Literal["text", "json"] = Field(
        default="text", description="log lines as readable text, or one JSON object each"
    )

    callback_max_body: int = Field(
        default=256 * 1024, gt=0, description="largest callback body accepted (bytes)"
    )
    task_deadline_seconds: float = Field(
        default=30 * 60, gt=0, description="time after which an unfinished task expires"
    )
    expire_grace_seconds: float = Field(
        default=600,
        ge=0,
        description="after the deadline, how long the last poll may be retried before expiring",
    )
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
    reconcile_lease_seconds: float = Field(
        default=20,
        gt=0,
        description="how long a reconciler holds an unconfirmed submission it settles (and "
        "one it resubmitted without an answer), so no other worker settles it meanwhile",
    )
    shutdown_grace_seconds: float = Field(
        default=10,
        ge=0,
        description="on SIGTERM/SIGINT, how long passes in flight may take to finish",
    )
    workers: int = Field(
        default=1, ge=1, description="`genhook serve`: web processes (PostgreSQL only)"
    )
    routes: str | None = Field(
        default=None,
        description="more routes, as TOML text in the routes file's format (after the "
        "built-in ones and data_dir/routes.toml; a name given again replaces it)",
    )
    routes_file: Path | None = Field(
        default=None, description="the routes file; default: data_dir/routes.toml if present"
    )
    reroute_every_seconds: float = Field(
        default=5,
        gt=0,
        description="safety tick of the rerouter, which sends routed tasks to their next "
        "target (woken at once when one fails)",
    )

    server: ServerSettings = ServerSettings()
    db: DbSettings = DbSettings()
    poll: PollSettings = PollSettings()
    circuit: CircuitSettings = CircuitSettings()
    provider: ProviderCallSettings = ProviderCallSettings()
    delivery: DeliverySettings = DeliverySettings()
    dispatch: DispatchSettings = DispatchSettings()
    events: EventsSettings = EventsSettings()
    assets: AssetsSettings = AssetsSettings()
    metrics: MetricsSettings = MetricsSettings()
    health: HealthSettings = HealthSettings()
    apimodels: ApimodelsSettings = ApimodelsSettings()
    apimall: ApimallSettings = ApimallSettings()
    apimart: ApimartSettings = ApimartSettings()

    SECTIONS: ClassVar[tuple[str, ...]] = (
        "server",
        "db",
        "poll",
        "circuit",
        "provider",
        "delivery",
        "dispatch",
        "events",
        "assets",
        "metrics",
        "health",
        *PROVIDERS,
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_flat_names(cls, data: Any) -> Any:
        """``delivery_timeout_seconds=5`` → ``delivery={"timeout_seconds": 5}``."""
        if not isinstance(data, dict):
            return data
        return fold_flat_names(data)

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def updated(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (flat or section names), validated like the original."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        folded = fold_flat_names(changes)
        for name in self.SECTIONS:
            if isinstance(folded.get(name), dict):
                folded[name] = {**getattr(self, name).model_dump(), **folded[name]}
        return type(self).model_validate({**values, **folded})

    @property
    def resolved_public_url(self) -> str:
        """Where callback URLs and asset URLs point: ``public_url``, or else this very
        server as bound (``--port 8011`` hands out URLs on 8011, not on 8000)."""
        if self.public_url:
            return self.public_url
        return f"http://{self.local_authority}"

    @property
    def local_authority(self) -> str:
        """``host:port`` a client on this machine reaches the server at."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self.port}"

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: explicit, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'genhook.db').resolve()}"

    @property
    def resolved_routes_file(self) -> Path:
        return self.routes_file or self.data_dir / "routes.toml"

    @property
    def resolved_assets_dir(self) -> Path:
        """Where mirrored images live: explicit, or ``assets`` in the data dir."""
        return self.assets.dir if self.assets.dir is not None else self.data_dir / "assets"

    @property
    def is_embedded_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def for_provider(self, provider: str) -> ProviderSettings:
        """The section of gateway ``provider``."""
        if provider not in PROVIDERS:
            raise KeyError(provider)
        section: ProviderSettings = getattr(self, provider)
        return section

    def cadence(self, provider: str) -> Cadence:
        """The poll cadence configured for ``provider``."""
        return self.for_provider(provider).cadence(self.poll.jitter)

    def cadences(self) -> dict[str, Cadence]:
        return {name: self.cadence(name) for name in PROVIDERS}


def fold_flat_names(data: dict[str, Any]) -> dict[str, Any]:
    """Move ``<section>_<field>`` keys into their section's dict (a later key wins)."""
    folded = dict(data)
    for section in Settings.SECTIONS:
        model = Settings.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        prefix = f"{section}_"
        flat = {
            key[len(prefix) :]: folded.pop(key)
            for key in list(folded)
            if key.startswith(prefix) and key[len(prefix) :] in model.model_fields
        }
        if not flat:
            continue
        current = folded.get(section)
        if isinstance(current, BaseModel):
            current = current.model_dump()
        folded[section] = {**(current or {}), **flat}
    return folded


def describe_invalid(exc: ValidationError) -> str:
    """A settings error as a person reads it: each refused value under its environment
    name (``GENHOOK_ASSETS_STORE: must be s3://bucket...``), without pydantic's noise."""
    lines = []
    for problem in exc.errors():
        names = [part for part in problem["loc"] if isinstance(part, str)]  # no list index
        variable = "GENHOOK_" + "_".join(names).upper() if names else "settings"
        if len(names) == 1 and names[0] in Settings.SECTIONS:
            variable += "_*"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{variable}: {message}")
    return "invalid settings: " + "; ".join(lines)
