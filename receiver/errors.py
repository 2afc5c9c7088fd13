"""Root of the service's exceptions.

Each package keeps its own subclasses next to the code that raises them
(``receiver.providers.errors``, ``storage.errors``); this root lets callers catch
"anything genhook refused" in one place without swallowing programming errors.
"""

from __future__ import annotations


class GenhookError(Exception):
    """Base class of every error genhook raises on purpose."""


class ConfigurationError(GenhookError):
    """The settings cannot work together (e.g. a public bind without an API token)."""


class UnknownProviderError(GenhookError):
    """A provider name that no adapter answers to."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"unknown provider {provider!r}")
        self.provider = provider


class TaskNotFoundError(GenhookError):
    """No task has this id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id


class TargetRefusedError(GenhookError):
    """An outbound URL we will not call: it resolves to a private, loopback or
    link-local address (or cannot be resolved) and private targets are not allowed."""

    code = "target_refused"


class DeliveryError(GenhookError):
    """Downstream delivery refused something; ``code`` is the API's error code."""

    code = "delivery_error"


class InvalidSubscriberError(DeliveryError):
    """A subscriber field is unusable (bad URL, unknown event type, malformed secret)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SubscriberNotFoundError(DeliveryError):
    code = "subscriber_not_found"

    def __init__(self, subscriber_id: str) -> None:
        super().__init__(f"no subscriber with id {subscriber_id!r}")
        self.subscriber_id = subscriber_id


class DeliveryNotFoundError(DeliveryError):
    code = "delivery_not_found"

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"no delivery with id {delivery_id}")
        self.delivery_id = delivery_id


class EventNotFoundError(DeliveryError):
    """An event id (``Last-Event-ID``, ``replay --event``) that the outbox does not hold."""

    code = "event_not_found"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no event with id {event_id!r}")
        self.event_id = event_id


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


class AssetFetchFailedError(AssetError):
    """The download failed in a way a later attempt may not (network, 5xx, 429...)."""
