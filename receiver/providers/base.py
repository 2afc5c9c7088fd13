"""The one small interface every gateway adapter implements.

The rest of genhook (submit, poller, callbacks) talks to providers only through
:class:`ProviderAdapter`, so adding a gateway means one module and one line in
``registry.py``. Adapters speak HTTP and their provider's JSON and answer in
:class:`~receiver.lifecycle.TaskSnapshot`s carrying the provider's *raw* state name;
mapping that onto our statuses is the lifecycle's job, and storage is nobody's here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from receiver.lifecycle import TaskSnapshot
from receiver.providers.validation import ProviderCatalog


@dataclass(frozen=True, slots=True)
class CreateResult:
    """What a successful create told us.

    ``snapshot`` has ``source=Source.SUBMIT`` and whatever credits the provider
    reported; ``request`` is the body we sent minus transport details (the callback
    URL, which embeds a token, is left out) so it can be stored with the task.
    """

    provider_task_id: str
    snapshot: TaskSnapshot
    request: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedCallback:
    """A readable callback: the snapshot, the echoed request and what was odd in it."""

    snapshot: TaskSnapshot
    request_params: Any
    parse_errors: tuple[str, ...]


@runtime_checkable
class ProviderAdapter(Protocol):
    """One image-generation gateway.

    ``validate`` is pure and runs before any network call (``create`` calls it too);
    ``params`` there holds every request field except ``model``, including ``prompt``.
    Every method that talks to the provider raises a
    :class:`~receiver.providers.errors.ProviderCallError` subclass on failure, after
    the adapter's own bounded retries where a retry can help.
    """

    @property
    def name(self) -> str: ...

    @property
    def has_callbacks(self) -> bool: ...

    @property
    def idempotent_create(self) -> bool:
        """True when a repeated ``create`` with the same key cannot make a second job."""
        ...

    @property
    def catalog(self) -> ProviderCatalog: ...

    def validate(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` for ``model``; return the request body to send (with model)."""
        ...

    async def create(
        self,
        model: str,
        prompt: str,
        params: Mapping[str, Any],
        *,
        idempotency_key: str,
        callback_url: str | None,
    ) -> CreateResult:
        """Submit one task; ``idempotency_key`` is derived from our task id."""
        ...

    async def fetch(self, provider_task_id: str) -> TaskSnapshot:
        """The task's current state (``source=Source.POLL``)."""
        ...

    async def fetch_many(self, provider_task_ids: Sequence[str]) -> dict[str, TaskSnapshot]:
        """Current state of several tasks, keyed by provider task id.

        Ids the provider does not know (404, or absent from a batch answer) are left
        out of the result; any other failure raises and fails the whole call (reads
        are idempotent: the caller polls the lot again later).
        """
        ...


@runtime_checkable
class CallbackAdapter(ProviderAdapter, Protocol):
    """A gateway that also calls us back (``has_callbacks`` is true)."""

    def parse_callback(self, body: bytes, *, observed_at: datetime) -> ParsedCallback:
        """Read a callback body; raises ``MalformedCallbackError`` when unusable."""
        ...
