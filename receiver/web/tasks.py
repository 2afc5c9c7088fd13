"""Task routes under ``/api``: submit, adopt, receiver-only URLs, read, list, settle."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock, resources, views
from receiver.errors import InvalidRequestError, TaskNotFoundError
from receiver.params import (
    IDEMPOTENCY_KEY_PATTERN,
    CallbackUrlBody,
    SettleBody,
    StuckQuery,
    SubmitBody,
    TaskQuery,
    TrackBody,
)
from receiver.stuck import stuck_reason, stuck_tasks
from receiver.submit import SubmitRequest, TaskWebhook
from receiver.web.http import parse_body, parse_query, respond, services
from receiver.web.operation import Header, operation
from storage.engine import READ_ONLY
from storage.ledger import attempts_for
from storage.models import Task
from storage.queries import (
    assets_for,
    deliveries_for,
    events_for,
    list_tasks,
    snapshots_for,
)

IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
TOO_LARGE = "body over GENHOOK_API_MAX_BODY"


@operation(
    "Create a task that waits for its callback; returns the callback URL",
    "tasks",
    body=CallbackUrlBody,
    ok={201: resources.CallbackUrl},
    errors={
        400: "body is not JSON",
        404: "unknown provider",
        422: "invalid body, or a provider without callbacks",
    },
)
async def post_callback_url(request: Request) -> Response:
    body = await parse_body(request, CallbackUrlBody)
    created = await services(request).submitter().callback_url(body.provider)
    return respond(
        resources.CallbackUrl(
            task_id=created.task_id, provider=created.provider, callback_url=created.callback_url
        ),
        201,
    )


@operation(
    "Submit a generation job",
    "tasks",
    body=SubmitBody,
    headers=(
        Header(
            "Idempotency-Key",
            "up to 200 printable ASCII characters; the same key with the same body answers "
            "the task it created (nothing is sent to the provider again), with another "
            "body 409",
        ),
    ),
    ok={201: resources.SubmittedTask},
    errors={
        400: "body is not JSON",
        404: "unknown provider",
        409: "Idempotency-Key used for a different request",
        413: TOO_LARGE,
        422: "refused before any provider call (unknown route, params no target can "
        "take...); names the field",
        429: "the provider's daily budget would be passed (code budget_exceeded); "
        "Retry-After: when its UTC day ends",
    },
    description="The task comes back `failed` when the provider refused it, and "
    "`submitting` with error code `create_unconfirmed` when the provider's answer was "
    "lost (settle it with `POST /api/tasks/{task_id}/settle`, or let the reconciler). "
    "With `route` instead of `provider` and `model`, the job goes to the route's first "
    "target that takes it and moves on to the next when an attempt fails for a reason "
    "another gateway can fix (see `attempts` in `GET /api/tasks/{task_id}`).",
)
async def post_task(request: Request) -> Response:
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidRequestError(
            "Idempotency-Key must be 1 to 200 printable ASCII characters without spaces",
            field="Idempotency-Key",
        )
    body = await parse_body(request, SubmitBody)
    hook = body.webhook
    webhook_asked = (
        TaskWebhook(hook.url, [t.value for t in hook.events], hook.secret)
        if hook is not None
        else None
    )
    submitter = services(request).submitter()
    if body.route is not None:
        task = (
            await services(request)
            .router()
            .submit(
                body.route, body.prompt, body.params, webhook=webhook_asked, idempotency_key=key
            )
        )
    else:
        assert body.provider is not None and body.model is not None  # SubmitBody checks
        task = await submitter.submit(
            SubmitRequest(
                body.provider, body.model, body.prompt, body.params, webhook=webhook_asked
            ),
            idempotency_key=key,
        )
    webhook = await submitter.webhook_of(task.id) if hook is not None else None
    return respond(
        resources.SubmittedTask(
            **dict(views.task(task)),
            webhook=views.subscriber_with_secret(webhook) if webhook is not None else None,
        ),
        201,
    )


@operation(
    "Settle an unconfirmed submission by hand: as failed, or by creating it again",
    "tasks",
    body=SettleBody,
    ok={200: resources.Task},
    errors={
        400: "body is not JSON",
        404: "no such task",
        409: "not an unconfirmed submission, or its create is in flight",
        413: TOO_LARGE,
        422: "invalid body",
    },
)
async def post_settle(request: Request) -> Response:
    body = await parse_body(request, SettleBody)
    task = await services(request).submitter().settle(request.path_params["task_id"], body.outcome)
    return respond(views.task(task))


@operation(
    "Adopt a task created elsewhere",
    "tasks",
    body=TrackBody,
    ok={201: resources.Task},
    errors={
        400: "body is not JSON",
        404: "unknown provider",
        409: "already tracked",
        422: "invalid body, or the provider does not know the task",
    },
)
async def post_track(request: Request) -> Response:
    body = await parse_body(request, TrackBody)
    task = (
        await services(request).submitter().track(body.provider, body.provider_task_id, body.model)
    )
    return respond(views.task(task), 201)


@operation(
    "One task with its snapshots, events, deliveries and images",
    "tasks",
    ok={200: resources.TaskDetail},
    errors={404: "no such task"},
)
async def get_task(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    runtime = services(request)
    async with runtime.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        task = await session.get(Task, task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        snapshots = await snapshots_for(session, task_id)
        events = await events_for(session, task_id)
        deliveries = await deliveries_for(session, task_id)
        assets = await assets_for(session, task_id)
        attempts = await attempts_for(session, task_id)
    base_url = runtime.settings.resolved_public_url
    return respond(
        resources.TaskDetail(
            **dict(views.task(task)),
            attempts=[views.task_attempt(a) for a in attempts],
            snapshots=[views.snapshot(s) for s in snapshots],
            events=[views.event(e) for e in events],
            deliveries=[views.delivery(d, event_type) for d, event_type in deliveries],
            assets=[views.asset(a, base_url) for a in assets],
        )
    )


@operation(
    "Tasks, newest first",
    "tasks",
    query=TaskQuery,
    ok={200: resources.TaskPage},
    errors={422: "a parameter is invalid (named in the message)"},
)
async def get_tasks(request: Request) -> Response:
    query = parse_query(request, TaskQuery)
    async with services(request).sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        tasks = await list_tasks(session, query, limit=query.limit, before_id=query.cursor)
    next_cursor = tasks[-1].id if len(tasks) == query.limit else None
    return respond(
        resources.TaskPage(tasks=[views.task(t) for t in tasks], next_cursor=next_cursor)
    )


@operation(
    "Unfinished tasks past their expected time, oldest first, with the reason",
    "tasks",
    query=StuckQuery,
    ok={200: resources.StuckTaskList},
    errors={422: "a parameter is invalid"},
)
async def get_stuck_tasks(request: Request) -> Response:
    query = parse_query(request, StuckQuery)
    runtime = services(request)
    now = clock.utcnow()
    async with runtime.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        rows = await stuck_tasks(session, runtime.settings, now, limit=query.limit)
    found = [
        resources.StuckTask(
            **dict(views.task(t)), stuck_reason=stuck_reason(t, runtime.settings, now)
        )
        for t in rows
    ]
    return respond(resources.StuckTaskList(tasks=found))


routes = [
    Route("/api/callback-urls", post_callback_url, methods=["POST"]),
    Route("/api/tasks", get_tasks, methods=["GET"]),
    Route("/api/tasks", post_task, methods=["POST"]),
    Route("/api/tasks/track", post_track, methods=["POST"]),
    Route("/api/tasks/stuck", get_stuck_tasks, methods=["GET"]),
    Route("/api/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/api/tasks/{task_id}/settle", post_settle, methods=["POST"]),
]
