"""``Genhook``: the blocking client (see :mod:`receiver.client`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx
from httpx_sse import connect_sse

from receiver import errors, resources
from receiver.client import _calls as calls
from receiver.client._core import (
    CONNECT_TIMEOUT,
    EVENTS_PATH,
    READ_IDLE_SECONDS,
    Call,
    backoff,
    error_for,
    new_idempotency_key,
    resolve_token,
    resolve_url,
    retry_after,
    unreachable,
)
from receiver.params import UsageGrouping

T = TypeVar("T")
OnUpdate = Callable[[resources.Task, str | None], None]


class Genhook:
    """A genhook server, over HTTP.

    ``url`` defaults to ``GENHOOK_URL`` (else ``http://127.0.0.1:8000``), ``token``
    to ``GENHOOK_API_TOKEN`` (else, for a server on this machine, the token it keeps
    in its data dir). ``timeout`` bounds one request; ``retry_seconds`` how long a
    server that cannot be reached, or answers 503, is tried again.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = resolve_url(url)
        token = resolve_token(token, self.url)
        headers = {"User-Agent": "genhook-python"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            transport=transport,
        )
        self._retry_seconds = retry_seconds
        self.subscribers = Subscribers(self)
        self.deliveries = Deliveries(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Genhook:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- tasks --------------------------------------------------------------------

    def submit(
        self,
        provider: str | None = None,
        *,
        model: str | None = None,
        prompt: str,
        route: str | None = None,
        params: Mapping[str, Any] | None = None,
        webhook: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> resources.SubmittedTask:
        """Submit a job to ``provider``'s ``model``, or to a ``route`` (which tries its
        targets in order, failing over from one provider to the next): one or the
        other, else ``TypeError``. Always sent with an ``Idempotency-Key`` (one is made
        when none is given), so a retried submit never creates, or pays for, a second
        task. ``webhook={"url": ..., "events": [...]}`` sends this task's events there."""
        where = calls.target(provider, model, route)
        key = idempotency_key or new_idempotency_key()
        return self._call(calls.submit(where, prompt, params, webhook, key))

    def track(
        self, provider: str, provider_task_id: str, *, model: str | None = None
    ) -> resources.Task:
        """Adopt a task created elsewhere (``ConflictError`` if genhook has it already)."""
        return self._call(calls.track(provider, provider_task_id, model))

    def callback_url(self, provider: str) -> resources.CallbackUrl:
        """A task that waits for its callback, and the URL to give the provider."""
        return self._call(calls.callback_url(provider))

    def get(self, task_id: str) -> resources.TaskDetail:
        """One task with its history (callbacks, polls, events, deliveries, images)."""
        return self._call(calls.get(task_id))

    def stuck(self, *, limit: int = 50) -> list[resources.StuckTask]:
        """Unfinished tasks past their expected time, oldest first, each with the reason."""
        return (self._call(calls.stuck(limit))).tasks

    def settle(self, task_id: str, outcome: Literal["failed", "resubmit"]) -> resources.Task:
        """Settle an unconfirmed submission by hand."""
        return self._call(calls.settle(task_id, outcome))

    def routes(self) -> list[resources.RouteView]:
        """The routes jobs can be submitted to, each with its targets in order."""
        return (self._call(calls.routes())).routes

    def usage(
        self,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        group_by: UsageGrouping | str = UsageGrouping.PROVIDER,
    ) -> resources.Usage:
        """What provider attempts cost, added up by ``provider``, ``model`` or ``day``
        (UTC), between ``since`` and ``until``; a row per unit, which never add up."""
        return self._call(calls.usage(since, until, group_by))

    def workers(self) -> list[resources.Worker]:
        """The live processes running background jobs, with what each holds."""
        return self._call(calls.workers()).workers

    def tasks(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        page_size: int = 50,
    ) -> Iterator[resources.Task]:
        """Every matching task, newest first, page after page as it is consumed."""
        cursor: str | None = None
        while True:
            page = self._call(
                calls.task_page(
                    status=status,
                    provider=provider,
                    model=model,
                    created_since=created_since,
                    created_until=created_until,
                    limit=page_size,
                    cursor=cursor,
                )
            )
            yield from page.tasks
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def wait(
        self, task_id: str, *, timeout: float = 1800.0, on_update: OnUpdate | None = None
    ) -> resources.Task:
        """The task once it is finished (completed, failed or expired).

        Follows the live event stream, never polls; a dropped connection (a server
        restart) is resumed with ``Last-Event-ID``. ``on_update(task, event_type)``
        sees the current state first (event type None), then every event. Raises
        :class:`~receiver.errors.ClientTimeoutError` (with ``.task``) after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        current = resources.Task.model_validate(
            self.get(task_id).model_dump(include=set(resources.Task.model_fields))
        )
        if on_update is not None:
            on_update(current, None)
        if current.status.is_terminal:
            return current
        following = self._follow(calls.event_query(task_id, None), None, deadline)
        with contextlib.closing(following) as events:  # the stream ends with us
            for event in events:
                current = event.data
                if on_update is not None:
                    on_update(current, event.type)
                if current.status.is_terminal:
                    return current
        raise errors.ClientTimeoutError(
            f"task {task_id} is still {current.status} after {timeout:g} s", task=current
        )

    def events(
        self,
        *,
        task_id: str | None = None,
        types: Iterable[str] | str | None = None,
        last_event_id: str | None = None,
    ) -> Generator[resources.Event]:
        """Task events as they happen, forever; resumed after a dropped connection.
        With ``last_event_id``, from right after that event. ``close()`` it to end
        the stream."""
        yield from self._follow(calls.event_query(task_id, types), last_event_id, None)

    # --- transport ----------------------------------------------------------------

    def _call(self, call: Call[T]) -> T:
        return call.parse(self._send(call).content)

    def _send(self, call: Call[Any]) -> httpx.Response:
        deadline = time.monotonic() + self._retry_seconds
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    headers=dict(call.headers),
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never arrived
                failure: errors.GenhookError = unreachable(self.url, exc)
                wait = backoff(attempt)
            except httpx.TransportError as exc:
                failure = _transport_failure(self.url, call, exc)
                if not call.repeatable:
                    raise failure from exc
                wait = backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                failure = error_for(response.status_code, response.content, self.url)
                if response.status_code != 503:
                    raise failure
                wait = retry_after(response.headers) or backoff(attempt)
            if time.monotonic() + wait > deadline:
                raise failure
            time.sleep(wait)
            attempt += 1

    def _follow(
        self, params: Mapping[str, Any], last_event_id: str | None, until: float | None
    ) -> Generator[resources.Event]:
        """The event stream, reconnected (after ``last_event_id``) whenever it drops,
        until the monotonic time ``until``; a server unreachable for longer than the
        retry bound (without ``until``) raises ``UnavailableError``."""
        attempt = 0
        failing_since: float | None = None
        while until is None or time.monotonic() < until:
            try:
                for event in self._stream(params, last_event_id, until):
                    last_event_id, attempt, failing_since = event.id, 0, None
                    yield event
                attempt = 0  # a stream the server ended (it is shutting down): resume
            except (httpx.TransportError, errors.UnavailableError) as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if until is None and now - failing_since > self._retry_seconds:
                    raise _gave_up(self.url, exc) from exc
                pause = backoff(attempt)
                if until is not None:
                    pause = min(pause, max(0.0, until - now))
                time.sleep(pause)
                attempt += 1

    def _stream(
        self, params: Mapping[str, Any], last_event_id: str | None, until: float | None
    ) -> Iterator[resources.Event]:
        read = READ_IDLE_SECONDS
        if until is not None:
            read = max(0.05, min(read, until - time.monotonic()))
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        with connect_sse(
            self._http,
            "GET",
            EVENTS_PATH,
            params=params,
            headers=headers,
            timeout=httpx.Timeout(read, connect=CONNECT_TIMEOUT),
        ) as source:
            response = source.response
            if response.status_code >= 400:
                response.read()
                raise error_for(response.status_code, response.content, self.url)
            for sse in source.iter_sse():
                if sse.data:
                    yield calls.event(sse.data)


def _gave_up(url: str, exc: Exception) -> errors.GenhookError:
    return exc if isinstance(exc, errors.GenhookError) else unreachable(url, exc)


def _transport_failure(url: str, call: Call[Any], exc: Exception) -> errors.GenhookError:
    if isinstance(exc, httpx.TimeoutException):
        return errors.ClientTimeoutError(f"{call.method} {url}{call.path} timed out")
    return unreachable(url, exc)


class Subscribers:
    """``client.subscribers``: who receives task events as signed webhooks."""

    def __init__(self, client: Genhook) -> None:
        self._client = client

    def list(self, *, task_id: str | None = None) -> list[resources.Subscriber]:
        """Subscribers for all tasks (with ``task_id``: that task's own webhooks)."""
        return self._client._call(calls.subscribers(task_id)).subscribers

    def add(
        self,
        url: str,
        *,
        events: Iterable[str] | str | None = None,
        secret: str | None = None,
    ) -> resources.SubscriberWithSecret:
        return self._client._call(calls.add_subscriber(url, events, secret))

    def get(self, subscriber_id: str) -> resources.SubscriberWithSecret:
        return self._client._call(calls.subscriber(subscriber_id))

    def remove(self, subscriber_id: str) -> None:
        self._client._call(calls.remove_subscriber(subscriber_id))

    def disable(
        self, subscriber_id: str, *, reason: str | None = None
    ) -> resources.DisabledSubscriber:
        """Stop sending to it; its pending deliveries are dead-lettered."""
        return self._client._call(calls.disable_subscriber(subscriber_id, reason))

    def enable(self, subscriber_id: str) -> resources.Subscriber:
        return self._client._call(calls.enable_subscriber(subscriber_id))

    def rotate(
        self, subscriber_id: str, *, secret: str | None = None
    ) -> resources.SubscriberWithSecret:
        return self._client._call(calls.rotate_subscriber(subscriber_id, secret))


class Deliveries:
    """``client.deliveries``: what was sent to subscribers, and replay."""

    def __init__(self, client: Genhook) -> None:
        self._client = client

    def list(
        self,
        *,
        subscriber: str | None = None,
        status: str | None = None,
        task_id: str | None = None,
        event: str | None = None,
        page_size: int = 50,
    ) -> Iterator[resources.Delivery]:
        """Every matching delivery, newest first, page after page."""
        cursor: int | None = None
        while True:
            page = self._client._call(
                calls.delivery_page(
                    subscriber=subscriber,
                    status=status,
                    task_id=task_id,
                    event=event,
                    limit=page_size,
                    cursor=cursor,
                )
            )
            yield from page.deliveries
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, delivery_id: int) -> resources.DeliveryDetail:
        return self._client._call(calls.delivery(delivery_id))

    def replay(
        self,
        subscriber: str,
        *,
        since: str | datetime | None = None,
        event: str | None = None,
        dead: bool = False,
    ) -> int:
        """Send a subscriber's deliveries again; returns how many were re-queued."""
        return self._client._call(calls.replay(subscriber, since, event, dead)).requeued
