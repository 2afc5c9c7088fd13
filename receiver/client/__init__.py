"""genhook from Python: :class:`Genhook` (blocking) and :class:`AsyncGenhook`.

::

    from receiver.client import Genhook

    with Genhook() as genhook:  # GENHOOK_URL, GENHOOK_API_TOKEN
        task = genhook.submit("apimart", model="gpt-image-2", prompt="a lighthouse")
        done = genhook.wait(task.id)
        print(done.status, done.result_urls)

Results are the API's own resources (:mod:`receiver.resources`): the models the
server answers with and ``/openapi.json`` describes. Errors are
:class:`~receiver.errors.GenhookError`\\ s: :class:`ApiNotFoundError`,
:class:`ApiRequestError` (``.field`` names the culprit), :class:`ConflictError`,
:class:`UnauthorizedError`, :class:`UnavailableError` (no server answers, or it
stayed 503 past the retry bound), :class:`ClientTimeoutError` (also a
``TimeoutError``). :func:`verify_webhook` is for the receiving end.

Cheap to import on purpose: httpx, pydantic and the resources, nothing of the
server (no Starlette, SQLAlchemy, typer or rich).
"""

from __future__ import annotations

from receiver.client._async import AsyncGenhook
from receiver.client._sync import Genhook
from receiver.client.webhooks import InvalidWebhookError, verify_webhook
from receiver.errors import (
    ApiError,
    ApiNotFoundError,
    ApiRequestError,
    ClientTimeoutError,
    ConflictError,
    GenhookError,
    UnauthorizedError,
    UnavailableError,
)

__all__ = [
    "ApiError",
    "ApiNotFoundError",
    "ApiRequestError",
    "AsyncGenhook",
    "ClientTimeoutError",
    "ConflictError",
    "Genhook",
    "GenhookError",
    "InvalidWebhookError",
    "UnauthorizedError",
    "UnavailableError",
    "verify_webhook",
]
