"""What the three HTTP adapters share: construction, validation, per-task fan-out.

Each gateway module subclasses :class:`HttpAdapter`, states its name, catalog and error
reader, and implements ``submit`` (``create`` validates first, so no provider can send
an invalid request) and ``fetch``; ``fetch_many`` falls back to bounded concurrent
``fetch`` calls unless the provider has a batch endpoint.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx

from receiver.lifecycle import TaskSnapshot
from receiver.providers.base import CreateResult
from receiver.providers.batching import fetch_each
from receiver.providers.retry import RetryPolicy
from receiver.providers.transport import ErrorInfo, ProviderHttp
from receiver.providers.validation import ProviderCatalog

DEFAULT_POLICY = RetryPolicy()


class HttpAdapter(ABC):
    """Base of the gateway adapters; see :class:`~receiver.providers.base.ProviderAdapter`."""

    name: ClassVar[str]
    has_callbacks: ClassVar[bool] = False
    idempotent_create: ClassVar[bool] = False
    catalog: ClassVar[ProviderCatalog]

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        rng: random.Random | None = None,
        concurrency: int = 4,
    ) -> None:
        self.http = ProviderHttp(
            provider=self.name,
            client=client,
            base_url=base_url,
            api_key=api_key,
            read_error=self.read_error,
            policy=policy,
            rng=rng or random.Random(),
        )
        self.concurrency = concurrency

    @staticmethod
    @abstractmethod
    def read_error(status: int, document: Any) -> ErrorInfo | None:
        """The provider's :data:`~receiver.providers.transport.ErrorReader`."""

    def validate(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.catalog.validate(model, params)

    async def create(
        self,
        model: str,
        prompt: str,
        params: Mapping[str, Any],
        *,
        idempotency_key: str,
        callback_url: str | None,
    ) -> CreateResult:
        """Validate (raising before any I/O), then let the provider submit."""
        request = self.validate(model, {**params, "prompt": prompt})
        return await self.submit(
            request, idempotency_key=idempotency_key, callback_url=callback_url
        )

    @abstractmethod
    async def submit(
        self, request: dict[str, Any], *, idempotency_key: str, callback_url: str | None
    ) -> CreateResult:
        """Send a validated request body; ``CreateResult.request`` should be ``request``."""

    @abstractmethod
    async def fetch(self, provider_task_id: str) -> TaskSnapshot: ...

    async def fetch_many(self, provider_task_ids: Sequence[str]) -> dict[str, TaskSnapshot]:
        return await fetch_each(provider_task_ids, self.fetch, concurrency=self.concurrency)
