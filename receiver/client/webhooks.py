"""Receiving genhook's webhooks: verify the signature, get a typed event.

genhook signs every webhook per Standard Webhooks; :func:`verify_webhook` checks
the signature and the timestamp (a replay of an old delivery is refused) with the
reference library, and returns the event as the same
:class:`~receiver.resources.Event` the API and the live stream carry. The event's
``id`` is stable across retries: use it to drop a delivery you have seen.
"""

from __future__ import annotations

from collections.abc import Mapping

from standardwebhooks import Webhook, WebhookVerificationError

from receiver import resources
from receiver.errors import GenhookError

__all__ = ["InvalidWebhookError", "verify_webhook"]


class InvalidWebhookError(GenhookError):
    """The webhook's signature or timestamp does not verify with the secret."""

    code = "invalid_webhook"


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str) -> resources.Event:
    """The event in ``body`` if ``headers`` carry a valid signature by ``secret``
    (``whsec_...``, as ``subscribers add`` or a task's ``webhook`` gave it);
    :class:`InvalidWebhookError` otherwise."""
    wanted = {name.lower(): value for name, value in headers.items()}
    payload = body.decode() if isinstance(body, bytes) else body
    try:
        Webhook(secret).verify(payload, wanted)
    except WebhookVerificationError as exc:
        raise InvalidWebhookError(f"webhook refused: {exc}") from None
    return resources.Event.model_validate_json(payload)
