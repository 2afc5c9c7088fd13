"""Submitting to a route: one genhook task, tried at each target in turn.

A routed job is written in the route vocabulary (:mod:`receiver.routes.mapping`) and
resolved once, when it is submitted, into its *plan*: for each target, the params
mapped for it or why it cannot take them. The plan is stored on the task, so editing
a route later does not move a task in flight, and every process reads the same one.

Attempt N is plan entry N. :meth:`Router.advance` sends the current attempt: in one
transaction it takes the task (row lock and lease), checks the provider's budget and
circuit and records the attempt row (``running`` with its estimate, or ``refused``);
then it sends the create through the submitter. Whatever fails goes through the
lifecycle as a failed report, and the lifecycle decides whether the task moves on
(:func:`receiver.lifecycle.apply`): when it does, the task waits for its next
target (``reroute_at``) and ``advance`` goes on right away in the same call. A
failure that arrives later (a callback, a poll, the deadline) leaves the task waiting
the same way, and :meth:`Router.reroute_due`, the rerouter job woken by the
``reroutes`` topic, takes it from there.

A crash after the attempt was taken but before the create answered leaves an
ordinary unconfirmed submission, which the reconciler settles by its provider's
rule; settled as failed, the route moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from receiver import clock
from receiver.budgets import Budgets
from receiver.errors import (
    IdempotencyKeyReusedError,
    InvalidRequestError,
    UnknownRouteError,
)
from receiver.lifecycle import Status
from receiver.pressure import ProviderPressure
from receiver.providers.base import ProviderAdapter
from receiver.providers.errors import ProviderValidationError
from receiver.providers.registry import get_adapter
from receiver.routes import Route, RouteParamError, check_route_params, map_params
from receiver.submit import (
    SUBMIT_LEASE,
    SubmitRequest,
    Submitter,
    TaskWebhook,
    check_storable,
    requested_images,
)
from storage.engine import SessionFactory
from storage.models import Attempt, Task

log = logging.getLogger(__name__)

REROUTE_BATCH = 50  # waiting tasks one rerouter pass takes on

# A plan entry's keys: provider, model, and params (mapped) or refused (why not).
Plan = list[dict[str, Any]]


def plan_for(route: Route, params: Mapping[str, Any]) -> Plan:
    """Each target of ``route`` with the params mapped for it, or why it cannot take
    them; refused (:class:`~receiver.routes.RouteParamError`) when no target can."""
    check_route_params(params)
    plan: Plan = []
    for target in route.targets:
        entry: dict[str, Any] = {"provider": target.provider, "model": target.model}
        try:
            entry["params"] = map_params(target, params)
        except RouteParamError as exc:
            entry["refused"] = str(exc)
        plan.append(entry)
    if all("refused" in entry for entry in plan):
        reasons = "; ".join(entry["refused"] for entry in plan)
        raise InvalidRequestError(
            f"no target of route {route.name!r} can take this job: {reasons}", field="params"
        )
    return plan


@dataclass(frozen=True, slots=True)
class Turn:
    """The attempt :meth:`Router.advance` is about to send, or not: ``refusal`` is
    (error code, message) when it is not to be sent."""

    provider: str
    model: str
    entry: Mapping[str, Any]
    refusal: tuple[str, str] | None


class Router:
    """Routed submissions and their attempts."""

    def __init__(
        self,
        sessions: SessionFactory,
        submitter: Submitter,
        adapters: Mapping[str, ProviderAdapter],
        routes: Mapping[str, Route],
        budgets: Budgets,
        *,
        deadline_seconds: float,
        pressure: ProviderPressure | None = None,
        holder: str = "route",
    ) -> None:
        self._sessions = sessions
        self._submitter = submitter
        self._adapters = adapters
        self._routes = routes
        self._budgets = budgets
        self._deadline = timedelta(seconds=deadline_seconds)
        self._pressure = pressure
        self._holder = holder

    @property
    def routes(self) -> Sequence[Route]:
        return [self._routes[name] for name in sorted(self._routes)]

    async def submit(
        self,
        route_name: str,
        prompt: str,
        params: Mapping[str, Any],
        *,
        webhook: TaskWebhook | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Create the task and send its first attempt that can be sent; returns the task.

        Refused before anything is stored: an unknown route, params outside the route
        vocabulary or that no target can take (:class:`InvalidRequestError`), a key
        used for another request. Nothing a target answers is raised: the task moves on
        or ends, as the lifecycle decides.
        """
        route = self._routes.get(route_name)
        if route is None:
            raise UnknownRouteError(route_name, sorted(self._routes))
        try:
            plan = plan_for(route, {"prompt": prompt, **params})
        except ProviderValidationError as exc:
            raise InvalidRequestError(str(exc), field=exc.field) from None
        first = plan[0]
        request = SubmitRequest(
            first["provider"], first["model"], prompt, params, webhook=webhook, route=route.name
        )
        check_storable(request)
        fingerprint = request.fingerprint()
        if idempotency_key is not None:
            earlier = await self._submitter.by_key(idempotency_key)
            if earlier is not None:
                return _replayed(earlier, idempotency_key, fingerprint)
        subscriber = await self._submitter.prepare_webhook(request)
        now = clock.utcnow()
        task = Task(
            provider=first["provider"],
            origin="submit",
            model=first["model"],
            request=request.as_json(),
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            status=Status.SUBMITTING.value,
            created_at=now,
            updated_at=now,
            deadline_at=now + self._deadline,
            route=route.name,
            route_plan=plan,
            attempt=1,
            reroute_at=now,  # waiting for its first attempt, which is sent right below
            lease_holder=self._holder,
            lease_expires_at=now + SUBMIT_LEASE,
        )
        try:
            async with self._sessions() as session, session.begin():
                session.add(task)
                if subscriber is not None:
                    await session.flush()
                    subscriber.task_id = task.id
                    session.add(subscriber)
        except IntegrityError:  # a concurrent retry with the same key won the insert
            earlier = await self._submitter.by_key(idempotency_key) if idempotency_key else None
            if earlier is None:
                raise
            return _replayed(earlier, idempotency_key or "", fingerprint)
        await self.advance(task.id)
        return await self._submitter.reload(task.id)

    async def reroute_due(self) -> list[str]:
        """Send every routed task waiting for its next target to it; returns their ids."""
        now = clock.utcnow()
        async with self._sessions() as session:
            query = (
                select(Task.id)
                .where(
                    col(Task.status) == Status.SUBMITTING.value,
                    col(Task.reroute_at).is_not(None),
                    col(Task.reroute_at) <= now,
                    or_(col(Task.lease_expires_at).is_(None), col(Task.lease_expires_at) <= now),
                )
                .order_by(col(Task.reroute_at))
                .limit(REROUTE_BATCH)
            )
            waiting = list((await session.exec(query)).all())
        done = []
        for task_id in waiting:
            try:
                await self.advance(task_id)
            except Exception:  # this task's problem: the others still move on
                log.exception("task %s: sending its next attempt failed", task_id)
                continue
            done.append(task_id)
        return done

    async def advance(self, task_id: str) -> None:
        """Send the task's current attempt, and the next while attempts fail at once."""
        for _ in range(64):  # bounded: each pass ends an attempt or returns
            turn = await self._take(task_id)
            if turn is None:
                return
            if turn.refusal is not None:
                code, message = turn.refusal
                await self._submitter.fail(
                    task_id, turn.provider, code, message, retry_elsewhere=True
                )
            else:
                await self._send(task_id, turn.provider, turn.model, turn.entry)
            task = await self._submitter.reload(task_id)
            if task.status != Status.SUBMITTING.value or task.reroute_at is None:
                return

    async def _send(
        self, task_id: str, provider: str, model: str, entry: Mapping[str, Any]
    ) -> None:
        adapter = get_adapter(self._adapters, provider)
        task = await self._submitter.reload(task_id)
        assert task.request is not None
        request = SubmitRequest(provider, model, task.request["prompt"], entry["params"])
        try:
            adapter.validate(model, {"prompt": request.prompt, **request.params})
        except ProviderValidationError as exc:
            # This target's own rule (the route vocabulary allowed it): another may take it.
            await self._submitter.fail(
                task_id, provider, "invalid_request", str(exc), retry_elsewhere=True
            )
            return
        await self._submitter.create_at(adapter, task_id, request, routed=True)

    async def _take(self, task_id: str) -> Turn | None:
        """Lease the task and record its current attempt; None when it is not waiting
        for one (or another process has it)."""
        now = clock.utcnow()
        async with self._sessions() as session, session.begin():
            task = await session.get(Task, task_id, with_for_update=True)
            if task is None or task.status != Status.SUBMITTING.value or task.reroute_at is None:
                return None
            held = task.lease_holder not in (None, self._holder)
            if held and task.lease_expires_at is not None and task.lease_expires_at > now:
                return None
            assert task.route_plan is not None
            entry = task.route_plan[task.attempt - 1]
            provider, model = entry["provider"], entry["model"]
            refusal = await self._refusal(session, entry, now)
            images = requested_images_of(entry)
            estimate = (
                None if refusal is not None else self._budgets.estimate(provider, model, images)
            )
            attempt = Attempt(
                task_id=task.id,
                number=task.attempt,
                provider=provider,
                model=model,
                outcome="running" if refusal is None else "refused",
                estimate=estimate,
                cost_unit=self._budgets.unit(provider),
                started_at=now,
                ended_at=None if refusal is None else now,
                cost=None if refusal is None else 0.0,
                error_code=None if refusal is None else refusal[0],
                error_message=None if refusal is None else refusal[1],
            )
            session.add(attempt)
            task.reroute_at = None
            task.lease_holder = self._holder
            task.lease_expires_at = now + SUBMIT_LEASE
            task.deadline_at = now + self._deadline  # each attempt has the provider's time
            task.next_poll_at = task.deadline_at
            task.create_attempts += 1
            task.updated_at = now
            session.add(task)
        return Turn(provider, model, entry, refusal)

    async def _refusal(
        self, session: AsyncSession, entry: Mapping[str, Any], now: datetime
    ) -> tuple[str, str] | None:
        """Why the attempt is not to be sent, if it is not: the target cannot take the
        params, its circuit is open, or its budget would be passed."""
        provider, model = entry["provider"], entry["model"]
        if "refused" in entry:
            return "unexpressible", entry["refused"]
        if self._pressure is not None:
            gate = self._pressure.gate(provider, now)
            if not gate.allowed:
                return "circuit_open", f"{provider}: {gate.reason or 'not callable now'}"
        verdict = await self._budgets.check(
            session, provider, model, requested_images_of(entry), now
        )
        if not verdict.allowed:
            return "budget_exceeded", verdict.reason(provider, self._budgets.unit(provider))
        return None


def requested_images_of(entry: Mapping[str, Any]) -> int:
    return requested_images(entry.get("params") or {})


def _replayed(earlier: Task, key: str, fingerprint: str) -> Task:
    if earlier.request_fingerprint != fingerprint:
        raise IdempotencyKeyReusedError(key, earlier.id)
    return earlier
