"""Which failures another gateway can fix: the rule that moves a routed task on.

A route exists so that a job survives one gateway being down, out of credits or over
budget; it must not turn a request that would fail everywhere into three paid
failures. So a failure *ends* the task when it is about the request itself (a
content-policy refusal, invalid parameters, a cancellation) and *moves it on* for
everything about the gateway (5xx after retries, an open circuit, 402, 429 beyond the
retry budget, a budget, the provider's deadline, a provider-side generation error).
Providers name their failures freely (apimodels.app reports a moderation refusal as
``GENERATION_FAILED`` with the message "Content policy violation"), so the request's
faults are recognised by code *and* message; anything not recognised as the
request's fault is the gateway's, because a job that could have been saved is worse
to lose than a second try is to pay for.
"""

from __future__ import annotations

import re

# About the request itself: the same request fails at every gateway.
_REQUEST_FAULT = re.compile(
    r"content|policy|moderat|safety|nsfw|blocked|prohibited|sensitive"
    r"|invalid|bad.?request|parameter|validation|unsupported"
    r"|cancel|settled_by_operator",
    re.IGNORECASE,
)


def fails_everywhere(error_code: str | None, error_message: str | None) -> bool:
    """Whether a failure with this code and message is the request's fault."""
    return any(
        text is not None and _REQUEST_FAULT.search(text) for text in (error_code, error_message)
    )


def can_fail_over(
    *,
    expired: bool,
    error_code: str | None,
    error_message: str | None,
    retry_elsewhere: bool | None = None,
) -> bool:
    """Whether an attempt that ended so should be followed by the route's next target.

    ``retry_elsewhere`` is the caller's own verdict when it had more than words to go
    on (a create refused with a typed error: 402 yes, 451 no); ``None`` leaves it to
    the code and message. An expiry at the provider's deadline always moves on.
    """
    if expired:
        return True
    if retry_elsewhere is not None:
        return retry_elsewhere
    return not fails_everywhere(error_code, error_message)
