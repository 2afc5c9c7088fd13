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

    run_background: bool = Field(
        default=True,
        description="run poller and dispatcher in `genhook serve` (off for a web-only process)",
    )
    reconcile_every_seconds: float = Field(
        default=30, gt=0, description="how often unconfirmed submissions are settled"
    )

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
    def is_embedded_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def binds_loopback_only(self) -> bool:
        return is_loopback_host(self.host)

    def provider_api_key(self, provider: str) -> str | None:
        key: SecretStr | None = getattr(self, f"{provider}_api_key", None)
        return key.get_secret_value() if key else None

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
