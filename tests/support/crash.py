"""A submission whose process "dies" between the provider's create and our update.

The task row is committed as ``submitting`` before the provider is called; these
helpers leave exactly that behind (the provider has the job, genhook never learned
its answer), for the tests of how unconfirmed creates are settled.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import select

from receiver.providers.base import CreateResult, ProviderAdapter
from receiver.services import Services
from receiver.submit import SubmitRequest
from storage.models import Task
from tests.support.simulated import MODELS, Simulated


class CrashAfterCreate:
    """Wraps a real adapter: the provider gets the create, then the process 'dies'."""

    def __init__(self, inner: ProviderAdapter) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def create(self, *args: object, **kwargs: object) -> CreateResult:
        await self.inner.create(*args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt("simulated crash between the provider's create and our update")


async def crash_submit(world: Simulated, provider: str, prompt: str = "crash") -> str:
    services = world.genhook.services
    real = services.adapters[provider]
    adapters = {**services.adapters, provider: CrashAfterCreate(real)}
    crashed = with_adapters(services, adapters).submitter()
    with pytest.raises(KeyboardInterrupt):
        await crashed.submit(SubmitRequest(provider, MODELS[provider], prompt, {}))
    async with services.sessions() as session:
        task = (await session.exec(select(Task).where(Task.provider == provider))).one()
    assert task.status == "submitting"  # the row was there before the provider call
    return task.id


def with_adapters(services: Services, adapters: dict[str, object]) -> Services:
    return replace(services, adapters=adapters)  # type: ignore[arg-type]


async def expire_leases(world: Simulated) -> None:
    async with world.genhook.services.sessions() as session, session.begin():
        for task in (await session.exec(select(Task))).all():
            task.lease_expires_at = None
            session.add(task)
