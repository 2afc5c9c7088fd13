"""``POST /callbacks/{provider}/{token}``: where providers report finished tasks.

Order of checks is the security contract: provider known and calling back → token
verified in constant time (no database access before this) → body size and read
deadline → parse → one durable transaction → 2xx. A body we cannot read (or
store) is still a real callback for a real task: it is kept in quarantine and
acknowledged, because a retry from the provider cannot fix it and an operator can
replay it. The contract: a valid token is answered 2xx (applied or quarantined),
unless the database does not answer (503: then the provider's retry is wanted).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock, metrics, resources
from receiver.errors import BodyTooLargeError, DatabaseUnavailableError, InvalidTokenError
from receiver.ingest import Inbound
from receiver.lifecycle import Source
from receiver.providers.errors import MalformedCallbackError
from receiver.web.http import (
    error,
    error_response,
    read_body,
    respond,
    services,
    storage_unavailable,
)
from receiver.web.operation import operation

log = logging.getLogger(__name__)


@operation(
    "Provider callback (the URL token is the credential)",
    "callbacks",
    body_schema={"type": "object", "description": "the provider's own callback JSON"},
    ok={200: resources.CallbackAck},
    errors={
        401: "bad or missing token",
        404: "unknown provider, or one without callbacks",
        413: "body over GENHOOK_CALLBACK_MAX_BODY",
        503: "database unavailable; the provider should retry",
    },
    public=True,
)
async def receive_callback(request: Request) -> Response:
    runtime = services(request)
    provider = request.path_params["provider"]
    token = request.path_params["token"]

    adapter = runtime.callback_adapters.get(provider)
    if adapter is None:
        if provider not in runtime.adapters:
            metrics.callback_received(metrics.UNKNOWN, "refused")
            return error(404, "unknown_provider", f"no provider named {provider!r}")
        metrics.callback_received(provider, "refused")
        return error(404, "no_callbacks", f"provider {provider!r} does not send callbacks")
    try:
        task_id = runtime.callback_urls.tokens.verify(provider, token)
        body = await read_body(request, runtime.settings.callback_max_body)
    except (InvalidTokenError, BodyTooLargeError) as exc:
        metrics.callback_received(provider, "refused")
        return error_response(exc)

    try:
        parsed = adapter.parse_callback(body, observed_at=clock.utcnow())
        inbound = Inbound(
            task_id=task_id,
            provider=provider,
            source=Source.CALLBACK,
            snapshot=parsed.snapshot,
            body=body,
            parse_errors=parsed.parse_errors,
        )
    except MalformedCallbackError as exc:
        inbound = _quarantined(task_id, provider, body, str(exc))
    except Exception as exc:  # a reader's bug must not become a 500 the provider retries
        log.exception("could not read a callback for task %s; quarantined", task_id)
        inbound = _quarantined(task_id, provider, body, f"could not be read: {exc!r}")

    try:
        result = await runtime.ingestor.record(inbound)
    except (SQLAlchemyError, OSError, TimeoutError, DatabaseUnavailableError) as exc:
        metrics.callback_received(provider, "unavailable")
        log.warning(
            "could not store callback for task %s (answered 503): %s: %s",
            task_id,
            type(exc).__name__,
            exc,
            extra={"task_id": task_id, "provider": provider},
        )
        return storage_unavailable(exc)
    metrics.callback_received(provider, result.outcome.value)
    return respond(resources.CallbackAck(status=result.outcome, task_id=result.task_id))


def _quarantined(task_id: str, provider: str, body: bytes, detail: str) -> Inbound:
    return Inbound(
        task_id=task_id,
        provider=provider,
        source=Source.CALLBACK,
        snapshot=None,
        body=body,
        detail=detail,
    )


routes = [Route("/callbacks/{provider}/{token}", receive_callback, methods=["POST"])]
