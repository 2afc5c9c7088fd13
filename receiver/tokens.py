"""Callback tokens: the capability in a callback URL.

A token is ``<task id>.<mac>`` where ``mac`` is a truncated HMAC-SHA256 over
``provider`` and the task id, keyed with the service secret. It lets the receiver

* refuse a forged or guessed URL before touching the database (constant-time
  compare), and
* find the task even if the process died before it stored the provider's task id.

The secret comes from ``GENHOOK_SECRET``; otherwise it is generated once and kept in
``<data dir>/secret`` so tokens stay valid across restarts. The admin API's bearer
token is kept the same way (:func:`load_api_token`, see :mod:`receiver.access`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from receiver.access import API_TOKEN_FILE
from receiver.errors import InvalidTokenError
from receiver.settings import Settings

_MAC_BYTES = 20  # 160 bits: unguessable, and short enough for a tidy URL
_SECRET_FILE = "secret"


class CallbackTokens:
    """Mints and verifies callback tokens with one service secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the service secret must be at least 16 bytes")
        self._secret = secret

    def mint(self, provider: str, task_id: str) -> str:
        return f"{task_id}.{self._mac(provider, task_id)}"

    def verify(self, provider: str, token: str) -> str:
        """Return the task id the token names, or raise :class:`InvalidTokenError`."""
        task_id, dot, mac = token.rpartition(".")
        if not dot or not task_id or not mac:
            raise InvalidTokenError("malformed callback token")
        expected = self._mac(provider, task_id)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise InvalidTokenError("callback token does not match")
        return task_id

    def _mac(self, provider: str, task_id: str) -> str:
        message = f"genhook-callback\x00{provider}\x00{task_id}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class CallbackUrls:
    """Callback URLs for our tasks: ``{public_url}/callbacks/{provider}/{token}``."""

    def __init__(self, tokens: CallbackTokens, public_url: str) -> None:
        self.tokens = tokens
        self._public_url = public_url.rstrip("/")

    def for_task(self, provider: str, task_id: str) -> str:
        return f"{self._public_url}/callbacks/{provider}/{self.tokens.mint(provider, task_id)}"


def load_service_secret(settings: Settings) -> bytes:
    """The configured secret, or the one kept in the data dir (created on first use)."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode()
    return _kept_secret(settings.data_dir / _SECRET_FILE)


def load_api_token(settings: Settings) -> tuple[str, bool]:
    """The admin API token and whether it was generated (not ``GENHOOK_API_TOKEN``).

    A generated token is written once into ``<data dir>/api-token`` (mode 0600) and
    reused by every later start, so a dashboard session and a CLI that read the
    file keep working across restarts.
    """
    if settings.api_token is not None:
        return settings.api_token.get_secret_value(), False
    return _kept_secret(settings.data_dir / API_TOKEN_FILE).decode(), True


def _kept_secret(path: Path) -> bytes:
    if path.exists():  # written whole or not at all (see _create_secret_file)
        return path.read_bytes().strip()
    return _create_secret_file(path)


def _create_secret_file(path: Path) -> bytes:
    """Write a fresh secret (mode 0600) atomically; if another process won, use theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32).encode()
    staging = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(staging, path)  # atomic, and fails if the file exists already
        except FileExistsError:
            return path.read_bytes().strip()
    finally:
        staging.unlink(missing_ok=True)
    return secret
