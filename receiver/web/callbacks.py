"""``POST /callbacks/{provider}/{token}``: where providers report finished tasks.

Order of checks is the security contract: provider known and calling back → token
verified in constant time (no database access before this) → body size → parse →
one durable transaction → 2xx. A body we cannot read is still a real callback for
a real task: it is kept in quarantine and acknowledged, because a retry from the
provider cannot fix it and an operator can replay it.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from receiver import clock
from receiver.ingest import Inbound
from receiver.lifecycle import Source
from receiver.providers.base import CallbackAdapter
from receiver.providers.errors import MalformedCallbackError
from receiver.services import Services
from receiver.tokens import InvalidTokenError
from receiver.web.http import BodyTooLargeError, JSONResponse, error, read_body

log = logging.getLogger("genhook.callbacks")


async def receive_callback(request: Request) -> Response:
    services: Services = request.app.state.services
    provider = request.path_params["provider"]
    token = request.path_params["token"]

    adapter = services.adapters.get(provider)
    if adapter is None:
        return error(404, "unknown_provider", f"no provider named {provider!r}")
    if not isinstance(adapter, CallbackAdapter) or not adapter.has_callbacks:
        return error(404, "no_callbacks", f"provider {provider!r} does not send callbacks")
    try:
        task_id = services.tokens.verify(provider, token)
    except InvalidTokenError as exc:
        return error(401, "invalid_token", str(exc))
    try:
        body = await read_body(request, services.settings.callback_max_body)
    except BodyTooLargeError as exc:
        return error(413, "body_too_large", str(exc), limit=exc.limit)

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
        inbound = Inbound(
            task_id=task_id,
            provider=provider,
            source=Source.CALLBACK,
            snapshot=None,
            body=body,
            detail=str(exc),
        )

    try:
        result = await services.ingestor.record(inbound)
    except (SQLAlchemyError, OSError):
        log.exception("could not store callback for task %s", task_id)
        response = error(503, "storage_unavailable", "could not store the callback; retry")
        response.headers["Retry-After"] = "5"
        return response
    return JSONResponse({"status": result.outcome.value, "task_id": result.task_id})
