"""Every error genhook raises on purpose, in one tree.

Callers catch "anything genhook refused" with :class:`GenhookError` without
swallowing programming errors, or one branch of it. Each class's docstring is the
situation it names; the web layer and the CLI map the tree onto HTTP statuses and
exit codes in one place each (``receiver.web.http``, ``receiver.cli.runner``).

Hierarchy::

    GenhookError
    ├── ConfigurationError            settings that cannot work together
    │   └── RouteDefinitionError      a route in the routes file or setting (receiver.routes)
    ├── DatabaseError
    │   ├── DatabaseSetupError        the URL or schema cannot be used (storage's own
    │   │   └── MigrationRequiredError   errors are translated into this at start-up)
    │   └── DatabaseUnavailableError  the database did not answer in time
    ├── RequestError                  a request genhook refuses as given
    │   ├── InvalidRequestError       a field or parameter is unusable (names it)
    │   ├── MalformedBodyError        a body that is not JSON
    │   ├── BodyTooLargeError
    │   ├── BodyTimeoutError          a body that did not arrive in time (slow client)
    │   ├── ClientGoneError           the client went away before its body arrived
    │   ├── UnknownProviderError
    │   ├── NoCallbacksError          a callback URL for a provider that never calls back
    │   ├── SubmissionRefusedError    our validation refused a job (a failed task is kept)
    │   ├── TrackRefusedError         the provider does not know the task to adopt
    │   ├── AlreadyTrackedError
    │   ├── IdempotencyKeyReusedError the same Idempotency-Key with another request
    │   ├── UnknownRouteError         a submission to a route genhook does not have
    │   ├── BudgetExceededError       a provider's daily budget would be passed (429)
    │   └── NotSettleableError        settle asked of a task that is no unconfirmed submission
    ├── NotFoundError
    │   ├── TaskNotFoundError
    │   ├── SubscriberNotFoundError
    │   ├── DeliveryNotFoundError
    │   └── EventNotFoundError
    ├── InvalidTokenError             a callback URL's token is forged or malformed
    ├── TargetRefusedError            an outbound URL resolves to a private address
    ├── InvalidSubscriberError        a subscriber's URL, event types or secret
    ├── AssetError
    │   ├── AssetRefusedError         final: not an image we keep
    │   │   └── NotAnImageError
    │   └── AssetFetchFailedError     worth retrying
    │       └── AssetStoreUnavailableError  the asset store (S3) did not answer or refused
    ├── ApiError                      the Python client got an error answer (receiver.client)
    │   ├── ApiRequestError           400/409/413/422: refused as sent (field, code)
    │   │   └── ConflictError         409: already tracked, key reused, not settleable
    │   ├── ApiNotFoundError          404 (also a NotFoundError)
    │   └── UnauthorizedError         401: no token, or the wrong one
    ├── UnavailableError              no genhook server answered, or it stayed 503
    ├── ClientTimeoutError            a request or a wait ran out of time (a TimeoutError)
    ├── ProviderError                 (receiver.providers.errors: its own subtree,
    │   ├── MalformedCallbackError     where each class says whether a retry helps)
    │   ├── ProviderValidationError
    │   │   └── RouteParamError       (receiver.routes.mapping) a route param a target
    │   │       └── UnexpressibleParamError   cannot take
    │   └── ProviderCallError ...
    └── SimulatorError                (receiver.simulator.errors)

``storage`` sits below ``receiver`` and imports nothing from it, so its errors have
their own root, :class:`storage.errors.StorageError`; :mod:`receiver.services`
translates them where it meets them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyTrackedError",
    "ApiError",
    "ApiNotFoundError",
    "ApiRequestError",
    "AssetError",
    "AssetFetchFailedError",
    "AssetRefusedError",
    "AssetStoreUnavailableError",
    "BodyTimeoutError",
    "BodyTooLargeError",
    "BudgetExceededError",
    "ClientGoneError",
    "ClientTimeoutError",
    "ConfigurationError",
    "ConflictError",
    "DatabaseError",
    "DatabaseSetupError",
    "DatabaseUnavailableError",
    "DeliveryNotFoundError",
    "EventNotFoundError",
    "GenhookError",
    "IdempotencyKeyReusedError",
    "InvalidRequestError",
    "InvalidSubscriberError",
    "InvalidTokenError",
    "MalformedBodyError",
    "MigrationRequiredError",
    "NoCallbacksError",
    "NotAnImageError",
    "NotFoundError",
    "NotSettleableError",
    "RequestError",
    "RouteDefinitionError",
    "SubmissionRefusedError",
    "SubscriberNotFoundError",
    "TargetRefusedError",
    "TaskNotFoundError",
    "TrackRefusedError",
    "UnauthorizedError",
    "UnavailableError",
    "UnknownProviderError",
    "UnknownRouteError",
]


class GenhookError(Exception):
    """Base class of every error genhook raises on purpose."""

    #: the API's error code for this error (``{"error": {"code": ...}}``)
    code = "error"


class ConfigurationError(GenhookError):
    """The settings cannot work together (e.g. a public bind without an API token)."""

    code = "configuration_error"


class DatabaseError(GenhookError):
    code = "storage_error"


class DatabaseSetupError(DatabaseError):
    """The database URL or schema cannot be used as configured."""


class MigrationRequiredError(DatabaseSetupError):
    """The database schema is behind the code: run ``genhook db upgrade``."""

    code = "migration_required"


class DatabaseUnavailableError(DatabaseError):
    """The database did not answer (refused, timed out, or dropped the connection)."""

    code = "storage_unavailable"


class RequestError(GenhookError):
    """A request genhook refuses as given; sending it again unchanged will not help."""

    code = "invalid_request"


class InvalidRequestError(RequestError):
    """A field or parameter is unusable; ``field`` names it when one is to blame."""

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        if code is not None:
            self.code = code


class MalformedBodyError(RequestError):
    """A body that is not even JSON."""

    code = "invalid_json"


class BodyTooLargeError(RequestError):
    code = "body_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"body exceeds {limit} bytes")
        self.limit = limit


class BodyTimeoutError(RequestError):
    """The body did not arrive within the server's body deadline: a client that sends
    byte by byte would otherwise hold a connection (and a worker's memory) for ever."""

    code = "body_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the body did not arrive within {seconds:g} s")


class ClientGoneError(RequestError):
    """The client disconnected before its body was complete; nobody reads the answer."""

    code = "client_gone"

    def __init__(self) -> None:
        super().__init__("the client disconnected before its body was complete")


class UnknownProviderError(RequestError):
    """A provider name that no adapter answers to."""

    code = "unknown_provider"

    def __init__(self, provider: str) -> None:
        super().__init__(f"unknown provider {provider!r}")
        self.provider = provider


class NoCallbacksError(RequestError):
    """The provider never calls back, so a callback URL would never be used."""

    code = "no_callbacks"

    def __init__(self, provider: str) -> None:
        super().__init__(
            f"provider {provider!r} sends no callbacks; submit through genhook "
            "(`genhook submit`) or adopt the task (`genhook track`) so it is polled"
        )
        self.provider = provider


class SubmissionRefusedError(RequestError):
    """Our validation refused the job before any provider call; the task is kept as
    failed, so ``task_id`` names it."""

    def __init__(self, task_id: str, message: str, *, field: str) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.field = field


class TrackRefusedError(RequestError):
    """The provider does not know the task we were asked to adopt."""

    code = "track_refused"


class AlreadyTrackedError(RequestError):
    """genhook already has a task for this provider task id."""

    code = "already_tracked"

    def __init__(self, provider: str, provider_task_id: str) -> None:
        super().__init__(f"genhook already has a task for {provider} task {provider_task_id!r}")
        self.provider = provider
        self.provider_task_id = provider_task_id


class IdempotencyKeyReusedError(RequestError):
    """An ``Idempotency-Key`` already used for a different request: reusing a key for
    another job would make retries ambiguous, so it is refused, not guessed."""

    code = "idempotency_key_reused"

    def __init__(self, key: str, task_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was used for a different request (task {task_id}); "
            "use a new key for a new job"
        )
        self.task_id = task_id


class UnknownRouteError(RequestError):
    """A submission names a route that is neither built in nor configured."""

    code = "unknown_route"

    def __init__(self, route: str, known: list[str]) -> None:
        super().__init__(f"no route named {route!r}; routes: {', '.join(known) or 'none'}")
        self.field = "route"


class BudgetExceededError(RequestError):
    """A direct submission would pass its provider's daily budget: nothing was sent.

    ``retry_after`` is the seconds until the budget's UTC day ends."""

    code = "budget_exceeded"

    def __init__(self, message: str, *, provider: str, retry_after: float) -> None:
        super().__init__(message)
        self.provider = provider
        self.retry_after = retry_after


class NotSettleableError(RequestError):
    """Only a ``submitting`` task whose create is not in flight can be settled by hand."""

    code = "not_settleable"

    def __init__(self, task_id: str, why: str) -> None:
        super().__init__(f"task {task_id} cannot be settled: {why}")
        self.task_id = task_id


class NotFoundError(GenhookError):
    code = "not_found"


class TaskNotFoundError(NotFoundError):
    code = "task_not_found"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id


class SubscriberNotFoundError(NotFoundError):
    code = "subscriber_not_found"

    def __init__(self, subscriber_id: str) -> None:
        super().__init__(f"no subscriber with id {subscriber_id!r}")
        self.subscriber_id = subscriber_id


class DeliveryNotFoundError(NotFoundError):
    code = "delivery_not_found"

    def __init__(self, delivery_id: int | str) -> None:
        super().__init__(f"no delivery with id {delivery_id!r}")
        self.delivery_id = delivery_id


class EventNotFoundError(NotFoundError):
    """An event id (``Last-Event-ID``, ``replay --event``) that the outbox does not hold."""

    code = "event_not_found"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no event with id {event_id!r}")
        self.event_id = event_id


class InvalidTokenError(GenhookError):
    """The callback token is malformed or its MAC does not match."""

    code = "invalid_token"


class TargetRefusedError(GenhookError):
    """An outbound URL we will not call: it resolves to a private, loopback or
    link-local address (or cannot be resolved) and private targets are not allowed."""

    code = "target_refused"


class InvalidSubscriberError(GenhookError):
    """A subscriber field is unusable (bad URL, unknown event type, malformed secret)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AssetError(GenhookError):
    """Mirroring one result image did not work; ``code`` says why in one word.

    Two kinds, because the mirror treats them differently: a refusal is final (the
    source will not become acceptable by asking again), a failure is retried with
    backoff until the result URL expires.
    """

    code = "asset_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AssetRefusedError(AssetError):
    """Not an image we keep: wrong content type, over the size limit, a private
    address (directly or by redirect), a URL we cannot request."""


class NotAnImageError(AssetRefusedError):
    """The bytes are not a PNG, JPEG, WebP or GIF we can read the size of."""

    def __init__(self, message: str) -> None:
        super().__init__("not_an_image", message)


class AssetFetchFailedError(AssetError):
    """The download failed in a way a later attempt may not (network, 5xx, 429...)."""


class AssetStoreUnavailableError(AssetFetchFailedError):
    """The asset store (an S3 bucket) did not answer, or refused a request: an image
    being mirrored is retried on its schedule, ``/assets`` answers 503. At start-up the
    same failure is a :class:`ConfigurationError` (a store that cannot be used)."""

    def __init__(self, message: str) -> None:
        super().__init__("asset_store_unavailable", message)


class ApiError(GenhookError):
    """A genhook server answered with an error (raised by :mod:`receiver.client`).

    ``status`` is the HTTP status; ``code``, ``message``, ``field`` and ``task_id``
    come from the answer's ``{"error": {...}}``, so a program can act on them.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.task_id = task_id

    def __str__(self) -> str:
        return f"{self.message} (field {self.field})" if self.field else self.message


class ApiRequestError(ApiError, RequestError):
    """400, 409, 413 or 422: the server refused the request as sent."""


class ConflictError(ApiRequestError):
    """409: it conflicts with what the server holds (a task tracked already, an
    Idempotency-Key used for another request, a task that cannot be settled)."""


class ApiNotFoundError(ApiError, NotFoundError):
    """404: no such task, subscriber, delivery or event."""


class UnauthorizedError(ApiError):
    """401: the token is missing or wrong (``GENHOOK_API_TOKEN``)."""


class UnavailableError(GenhookError):
    """No genhook server answered at the URL, or it stayed unavailable (503) for
    longer than the client's retry bound."""

    code = "unavailable"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ClientTimeoutError(GenhookError, TimeoutError):
    """A request got no answer in time, or ``wait`` ran out before the task finished
    (then ``task`` is the task as it stood)."""

    code = "timed_out"

    def __init__(self, message: str, *, task: Any = None) -> None:
        super().__init__(message)
        self.task = task


class RouteDefinitionError(ConfigurationError):
    """A route definition that cannot be used (routes file or routes setting).

    Refused when the routes are loaded, not when a job arrives: a route found broken at
    submit time would fail jobs a correct definition would have served. The message
    names the source, the route and the target's index, so it can be fixed in place.
    """

    code = "invalid_route"

    def __init__(
        self, message: str, *, source: str, route: str | None = None, target: int | None = None
    ) -> None:
        where = source
        if route is not None:
            where += f", route {route!r}"
        if target is not None:
            where += f", target {target}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.route = route
        self.target = target
