"""Which adapters exist, built from settings: the one place that names every gateway.

``build_adapters`` is called once at start-up with the shared ``httpx.AsyncClient``
(its timeouts and connection limits are the app's to choose); everything else looks
adapters up by provider name through :func:`get_adapter`. A provider without an API
key is still built: it sends no ``Authorization`` header, which is what the bundled
simulator accepts in development and what a real gateway answers with a 401.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import httpx

from receiver.errors import UnknownProviderError
from receiver.providers import apimall_models, apimart_models, apimodels_models
from receiver.providers.adapter import HttpAdapter
from receiver.providers.apimall import ApimallAdapter
from receiver.providers.apimart import ApimartAdapter
from receiver.providers.apimodels import ApimodelsAdapter
from receiver.providers.base import ProviderAdapter
from receiver.providers.retry import RetryPolicy
from receiver.providers.validation import ProviderCatalog
from receiver.settings import Settings
from receiver.settlement import Rule

ADAPTER_CLASSES: Mapping[str, type[HttpAdapter]] = {
    cls.name: cls for cls in (ApimodelsAdapter, ApimallAdapter, ApimartAdapter)
}

CATALOGS: Mapping[str, ProviderCatalog] = {
    catalog.provider: catalog
    for catalog in (apimodels_models.CATALOG, apimall_models.CATALOG, apimart_models.CATALOG)
}


def build_adapters(
    settings: Settings, client: httpx.AsyncClient, *, rng: random.Random | None = None
) -> Mapping[str, ProviderAdapter]:
    """One adapter per provider, each on its configured base URL and key."""
    rng = rng or random.Random()
    policy = RetryPolicy(
        max_attempts=settings.provider.retry_attempts,
        budget=settings.provider.retry_budget_seconds,
    )
    adapters: dict[str, ProviderAdapter] = {}
    for name, cls in ADAPTER_CLASSES.items():
        gateway = settings.for_provider(name)
        adapters[name] = cls(
            client,
            gateway.url,
            gateway.key,
            policy=policy,
            rng=rng,
            concurrency=settings.poll.concurrency,
        )
    return adapters


def settlement_rules(settings: Settings) -> dict[str, Rule]:
    """How each gateway's unconfirmed creates are settled (see :mod:`receiver.settlement`)."""
    return {
        name: Rule(
            provider=name,
            idempotent_create=cls.idempotent_create,
            has_callbacks=cls.has_callbacks,
            resubmit_unconfirmed=settings.for_provider(name).resubmit_unconfirmed,
            grace_seconds=settings.for_provider(name).unconfirmed_grace_seconds,
        )
        for name, cls in ADAPTER_CLASSES.items()
    }


def get_adapter(adapters: Mapping[str, ProviderAdapter], name: str) -> ProviderAdapter:
    """The adapter called ``name``; raises :class:`UnknownProviderError` otherwise."""
    try:
        return adapters[name]
    except KeyError:
        raise UnknownProviderError(name) from None


def describe_catalogs() -> dict[str, dict[str, Any]]:
    """Every provider's models and parameters as JSON-able data (for the README)."""
    return {
        name: {"callbacks": ADAPTER_CLASSES[name].has_callbacks, **catalog.describe()}
        for name, catalog in CATALOGS.items()
    }
