"""The demo's webhook receiver: a one-route Starlette app that checks every delivery.

``genhook demo`` (:mod:`receiver.cli.demo`) serves it on loopback for its own
duration and subscribes it, so a first run shows signed webhooks arriving, each
verified with the ``standardwebhooks`` reference library.
"""

from __future__ import annotations

from collections.abc import Callable

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/webhooks"

Received = Callable[[str, str, bool], None]
"""``(event type or webhook-id, task id or "?", signature verified)``"""


def webhook_receiver(secret: Callable[[], str | None], received: Received) -> Starlette:
    """An app that verifies each POST with ``secret()`` and reports it to ``received``."""

    async def receive(request: Request) -> Response:
        body = await request.body()
        key = secret()
        try:
            if key is None:
                raise WebhookVerificationError("no secret yet")
            payload = Webhook(key).verify(body, dict(request.headers))
            received(payload["type"], payload["data"]["id"], True)
        except (WebhookVerificationError, KeyError, TypeError, ValueError):
            received(request.headers.get("webhook-id", "?"), "?", False)
        return Response(status_code=204)

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])
