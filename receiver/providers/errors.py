"""Errors raised by provider adapters and callback parsers.

Every failure of a provider call is a :class:`ProviderCallError` whose class says
whether repeating the call can help, so callers (the retry loop, the poller, the
submit service) decide from the type and never from a status code or a message:

* :class:`ProviderRejectedError` and its subclasses (400, 401, 402, 403, 404, 409, 451):
  the request itself is refused; the same request gets the same answer. Never retried.
* :class:`ProviderRateLimitedError` (429) and :class:`ProviderUnavailableError` (503): the
  provider said it did not take the request, so repeating it is safe even for a
  create that is not idempotent. Retried, honouring ``Retry-After``.
* :class:`ProviderServerError` (other 5xx), :class:`ProviderNetworkError` (timeouts,
  dropped connections) and :class:`ProviderProtocolError` (a 2xx we cannot read): we
  do not know whether the provider acted. Retried only when the call is idempotent
  (a read, or an API Mall create carrying an ``Idempotency-Key``); otherwise a retry
  could create, and bill, a second task.

:func:`error_for_status` is the one place that maps an HTTP-like status onto a class.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from receiver.errors import GenhookError


class ProviderError(GenhookError):
    """Root of everything a provider adapter raises on purpose."""

    @property
    def retryable(self) -> bool:
        """Whether repeating the same call could succeed; ``False`` unless a subclass knows."""
        return False


class MalformedCallbackError(ProviderError):
    """A callback body we cannot read at all: it goes to quarantine, not to a task."""


class ProviderValidationError(ProviderError, ValueError):
    """A request that breaks the provider's documented rules, refused before any I/O.

    ``field`` is the offending request field (``"model"`` for an unknown model) and the
    message names it too, so it can be shown to the person who sent the request as is.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class RetrySafety(StrEnum):
    """When repeating a failed call can help and cannot do harm."""

    NEVER = "never"
    ALWAYS = "always"
    IF_IDEMPOTENT = "if_idempotent"


class ProviderCallError(ProviderError):
    """A provider call that did not give a usable answer.

    ``status_code`` is the HTTP status, or the status-like ``code`` a provider put in a
    200 body; ``None`` for network errors. ``code`` is the provider's own error code
    (``"insufficient_credits"``, ``402``...) as text, ``message`` its explanation,
    ``retry_after`` the delay it asked for in seconds. ``idempotent`` records whether
    the failed call may be repeated without side effects; with the class's
    :attr:`safety` it decides :attr:`retryable`.
    """

    safety: ClassVar[RetrySafety] = RetrySafety.NEVER
    # The provider's own error code, not one of ours: it may be absent.
    code: str | None  # type: ignore[assignment]

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        idempotent: bool = False,
    ) -> None:
        super().__init__(f"{provider}: {message}" if provider else message)
        self.provider = provider
        self.message = message
        self.status_code = status_code
        self.code = code
        self.retry_after = retry_after
        self.idempotent = idempotent

    @property
    def retryable(self) -> bool:
        return self.safety is RetrySafety.ALWAYS or (
            self.safety is RetrySafety.IF_IDEMPOTENT and self.idempotent
        )


class ProviderRejectedError(ProviderCallError):
    """A 4xx: the provider refused this request; sending it again changes nothing."""


class ProviderBadRequestError(ProviderRejectedError):
    """400 (and any 4xx without a class of its own): invalid or missing parameters."""


class ProviderAuthError(ProviderRejectedError):
    """401: the API key is missing or invalid."""


class ProviderForbiddenError(ProviderAuthError):
    """403: the key is valid but not allowed here (API Mall: access not approved)."""


class InsufficientCreditsError(ProviderRejectedError):
    """402: the account cannot pay for this task."""


class ProviderNotFoundError(ProviderRejectedError):
    """404: the provider does not know this task (never existed, or retention expired)."""


class ProviderConflictError(ProviderRejectedError):
    """409: API Mall's ``Idempotency-Key`` was used for a different request."""


class ContentRejectedError(ProviderRejectedError):
    """451: the prompt or input was blocked by the provider's moderation."""


class ProviderRateLimitedError(ProviderCallError):
    """429: too many requests or concurrent jobs; the request was not taken."""

    safety = RetrySafety.ALWAYS


class ProviderUnavailableError(ProviderCallError):
    """503: the provider or its upstream is busy; the request was not taken."""

    safety = RetrySafety.ALWAYS


class ProviderServerError(ProviderCallError):
    """Any other 5xx: the provider may or may not have acted on the request."""

    safety = RetrySafety.IF_IDEMPOTENT


class ProviderNetworkError(ProviderCallError):
    """No HTTP answer (connect error, timeout, dropped connection)."""

    safety = RetrySafety.IF_IDEMPOTENT


class ProviderProtocolError(ProviderCallError):
    """A 2xx whose body breaks the documented contract (not JSON, no task id...)."""

    safety = RetrySafety.IF_IDEMPOTENT


_BY_STATUS: dict[int, type[ProviderCallError]] = {
    400: ProviderBadRequestError,
    401: ProviderAuthError,
    402: InsufficientCreditsError,
    403: ProviderForbiddenError,
    404: ProviderNotFoundError,
    409: ProviderConflictError,
    429: ProviderRateLimitedError,
    451: ContentRejectedError,
    503: ProviderUnavailableError,
}


def error_class_for_status(status: int) -> type[ProviderCallError]:
    """The exception class for a non-success HTTP (or body) status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return ProviderBadRequestError
    if 500 <= status < 600:
        return ProviderServerError
    return ProviderProtocolError


def error_for_status(
    status: int,
    *,
    provider: str,
    code: str | None = None,
    message: str | None = None,
    retry_after: float | None = None,
    idempotent: bool = False,
) -> ProviderCallError:
    """Build the typed error for ``status`` with the provider's code and message."""
    cls = error_class_for_status(status)
    return cls(
        message or f"HTTP {status}",
        provider=provider,
        status_code=status,
        code=code,
        retry_after=retry_after,
        idempotent=idempotent,
    )
