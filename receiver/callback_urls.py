"""Receiver-only mode: the application submits jobs itself and asks us for a URL.

The task is created ``pending`` with no provider task id; the first callback tells
us the id (``lifecycle.apply`` fills it). No event is emitted at creation: nothing
has happened at the provider yet that downstream systems could act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from receiver import clock
from receiver.errors import GenhookError
from receiver.lifecycle import Status
from receiver.providers.registry import get_adapter
from receiver.services import Services
from storage.models import Task


class NoCallbacksError(GenhookError):
    """The provider never calls back, so a callback URL would never be used."""

    def __init__(self, provider: str) -> None:
        super().__init__(
            f"provider {provider!r} sends no callbacks; submit through genhook "
            "(`genhook submit`) or adopt the task (`genhook track`) so it is polled"
        )
        self.provider = provider


@dataclass(frozen=True, slots=True)
class CallbackUrl:
    task_id: str
    provider: str
    callback_url: str


async def create_callback_url(services: Services, provider: str) -> CallbackUrl:
    if not get_adapter(services.adapters, provider).has_callbacks:
        raise NoCallbacksError(provider)
    now = clock.utcnow()
    deadline = now + timedelta(seconds=services.settings.task_deadline_seconds)
    task = Task(
        provider=provider,
        origin="receiver",
        status=Status.PENDING.value,
        created_at=now,
        updated_at=now,
        deadline_at=deadline,
        # It cannot be polled before a callback tells us its provider task id, so only
        # its deadline wakes the poller (to expire it if no callback ever came).
        next_poll_at=deadline,
    )
    async with services.sessions() as session, session.begin():
        session.add(task)
    return CallbackUrl(task.id, provider, services.callback_url(provider, task.id))
