"""Every API operation as a :class:`~receiver.client._core.Call`: its route, its
body and query, and the resource its answer is read as (``receiver.resources``,
the models the server answers with and the OpenAPI document describes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from receiver import resources
from receiver.client._core import Call, nothing, parse_with, query
from receiver.params import UsageGrouping


def target(provider: str | None, model: str | None, route: str | None) -> dict[str, str]:
    """Where a job goes: ``{"route"}`` or ``{"provider", "model"}``, exactly one.

    A wrong combination is a programming error in the caller (``TypeError``, as for a
    missing argument), found before anything is sent."""
    if route is not None:
        if provider is not None or model is not None:
            raise TypeError(
                "submit() takes route= or provider and model=, not both: "
                "the route decides the provider and the model"
            )
        return {"route": route}
    if provider is None:
        raise TypeError("submit() needs a provider (with model=) or route=")
    if model is None:
        raise TypeError(f"submit() to provider {provider!r} needs model=")
    return {"provider": provider, "model": model}


def submit(
    where: Mapping[str, str],
    prompt: str,
    params: Mapping[str, Any] | None,
    webhook: Mapping[str, Any] | None,
    idempotency_key: str,
) -> Call[resources.SubmittedTask]:
    body: dict[str, Any] = {**where, "prompt": prompt, "params": dict(params or {})}
    if webhook is not None:
        body["webhook"] = dict(webhook)
    return Call(
        "POST",
        "/api/tasks",
        parse_with(resources.SubmittedTask),
        json=body,
        headers={"Idempotency-Key": idempotency_key},
        repeatable=True,  # the key makes a repeat harmless
    )


def track(provider: str, provider_task_id: str, model: str | None) -> Call[resources.Task]:
    body = {"provider": provider, "provider_task_id": provider_task_id}
    if model is not None:
        body["model"] = model
    return Call("POST", "/api/tasks/track", parse_with(resources.Task), json=body)


def callback_url(provider: str) -> Call[resources.CallbackUrl]:
    return Call(
        "POST", "/api/callback-urls", parse_with(resources.CallbackUrl), json={"provider": provider}
    )


def get(task_id: str) -> Call[resources.TaskDetail]:
    return Call("GET", f"/api/tasks/{task_id}", parse_with(resources.TaskDetail), repeatable=True)


def routes() -> Call[resources.RouteList]:
    return Call("GET", "/api/routes", parse_with(resources.RouteList), repeatable=True)


def usage(
    since: str | datetime | None, until: str | datetime | None, group_by: UsageGrouping | str
) -> Call[resources.Usage]:
    try:
        grouping = UsageGrouping(group_by)
    except ValueError:
        choices = ", ".join(g.value for g in UsageGrouping)
        raise ValueError(f"group_by must be one of {choices}, not {group_by!r}") from None
    params = query(since=since, until=until, group_by=grouping.value)
    return Call("GET", "/api/usage", parse_with(resources.Usage), params=params, repeatable=True)


def workers() -> Call[resources.WorkerList]:
    return Call("GET", "/api/workers", parse_with(resources.WorkerList), repeatable=True)


def stuck(limit: int) -> Call[resources.StuckTaskList]:
    params = query(limit=limit)
    return Call(
        "GET",
        "/api/tasks/stuck",
        parse_with(resources.StuckTaskList),
        params=params,
        repeatable=True,
    )


def settle(task_id: str, outcome: str) -> Call[resources.Task]:
    return Call(
        "POST",
        f"/api/tasks/{task_id}/settle",
        parse_with(resources.Task),
        json={"outcome": outcome},
    )


def task_page(
    *,
    status: str | None,
    provider: str | None,
    model: str | None,
    created_since: datetime | None,
    created_until: datetime | None,
    limit: int,
    cursor: str | None,
) -> Call[resources.TaskPage]:
    params = query(
        status=status,
        provider=provider,
        model=model,
        created_since=created_since,
        created_until=created_until,
        limit=limit,
        cursor=cursor,
    )
    return Call("GET", "/api/tasks", parse_with(resources.TaskPage), params=params, repeatable=True)


def subscribers(task_id: str | None) -> Call[resources.SubscriberList]:
    return Call(
        "GET",
        "/api/subscribers",
        parse_with(resources.SubscriberList),
        params=query(task_id=task_id),
        repeatable=True,
    )


def add_subscriber(
    url: str, events: Iterable[str] | str | None, secret: str | None
) -> Call[resources.SubscriberWithSecret]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["event_types"] = [events] if isinstance(events, str) else list(events)
    if secret is not None:
        body["secret"] = secret
    return Call("POST", "/api/subscribers", parse_with(resources.SubscriberWithSecret), json=body)


def subscriber(subscriber_id: str) -> Call[resources.SubscriberWithSecret]:
    return Call(
        "GET",
        f"/api/subscribers/{subscriber_id}",
        parse_with(resources.SubscriberWithSecret),
        repeatable=True,
    )


def remove_subscriber(subscriber_id: str) -> Call[None]:
    return Call("DELETE", f"/api/subscribers/{subscriber_id}", nothing)


def disable_subscriber(
    subscriber_id: str, reason: str | None
) -> Call[resources.DisabledSubscriber]:
    path = f"/api/subscribers/{subscriber_id}/disable"
    body = {"reason": reason} if reason else {}
    return Call("POST", path, parse_with(resources.DisabledSubscriber), json=body)


def enable_subscriber(subscriber_id: str) -> Call[resources.Subscriber]:
    return Call(
        "POST", f"/api/subscribers/{subscriber_id}/enable", parse_with(resources.Subscriber)
    )


def rotate_subscriber(
    subscriber_id: str, secret: str | None
) -> Call[resources.SubscriberWithSecret]:
    body = {"secret": secret} if secret is not None else {}
    return Call(
        "POST",
        f"/api/subscribers/{subscriber_id}/rotate",
        parse_with(resources.SubscriberWithSecret),
        json=body,
    )


def delivery_page(
    *,
    subscriber: str | None,
    status: str | None,
    task_id: str | None,
    event: str | None,
    limit: int,
    cursor: int | None,
) -> Call[resources.DeliveryPage]:
    params = query(
        subscriber=subscriber,
        status=status,
        task_id=task_id,
        event=event,
        limit=limit,
        cursor=cursor,
    )
    return Call(
        "GET", "/api/deliveries", parse_with(resources.DeliveryPage), params=params, repeatable=True
    )


def delivery(delivery_id: int) -> Call[resources.DeliveryDetail]:
    return Call(
        "GET",
        f"/api/deliveries/{delivery_id}",
        parse_with(resources.DeliveryDetail),
        repeatable=True,
    )


def replay(
    subscriber: str, since: str | datetime | None, event: str | None, dead: bool
) -> Call[resources.ReplayResult]:
    body: dict[str, Any] = {"subscriber": subscriber, "dead": dead}
    if since is not None:
        body["since"] = since.isoformat() if isinstance(since, datetime) else since
    if event is not None:
        body["event"] = event
    return Call("POST", "/api/deliveries/replay", parse_with(resources.ReplayResult), json=body)


def event_query(task_id: str | None, types: Iterable[str] | str | None) -> dict[str, Any]:
    if isinstance(types, str):
        types = [types]
    return query(task_id=task_id, type=list(types) if types is not None else None)


def event(data: str) -> resources.Event:
    return resources.Event.model_validate_json(data)
