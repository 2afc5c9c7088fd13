"""Standard Webhooks signatures: secrets, and the three headers on every webhook.

Per the Standard Webhooks spec (https://www.standardwebhooks.com):

* ``webhook-id``: the event id, stable across retries, the receiver's idempotency key;
* ``webhook-timestamp``: seconds since the epoch at the attempt (a fresh one per
  attempt, so receivers can refuse replays of old requests);
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` over the
  exact bytes sent. During a secret rotation one signature per live secret,
  space-separated, so a receiver holding either secret accepts the request.

Signing is done by the reference ``standardwebhooks`` package, so what we send is by
construction what its ``Webhook.verify`` checks. Secrets are ``whsec_`` + base64 of
random bytes; one that does not have that shape is refused up front with a clear
error instead of producing signatures nobody can verify.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from datetime import datetime
from math import floor

from standardwebhooks import Webhook

from receiver.errors import InvalidSubscriberError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 64


def generate_secret() -> str:
    """A new signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def validate_secret(secret: str) -> str:
    """Return ``secret`` if it is ``whsec_`` + base64 of 16 to 64 bytes, else raise."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSubscriberError(
            "invalid_secret", f"a signing secret starts with {SECRET_PREFIX!r} (whsec_<base64>)"
        )
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSubscriberError(
            "invalid_secret", "the part after 'whsec_' is not valid base64"
        ) from None
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise InvalidSubscriberError(
            "invalid_secret",
            f"a signing secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes "
            f"(this one has {len(raw)})",
        )
    return secret


def webhook_headers(
    event_id: str, timestamp: datetime, body: bytes, secrets_in_use: Sequence[str]
) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``, signed with every secret given."""
    if not secrets_in_use:
        raise ValueError("at least one secret is needed to sign")
    text = body.decode("utf-8")
    signatures = [Webhook(s).sign(event_id, timestamp, text) for s in secrets_in_use]
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(floor(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def secrets_in_use(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The current secret, plus the previous one while its rotation window lasts."""
    live = [secret]
    if previous and previous_expires_at is not None and now < previous_expires_at:
        live.append(previous)
    return live
