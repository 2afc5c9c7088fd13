"""Task routes under ``/api``: submit, adopt, receiver-only URLs, read and list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import resources, views
from receiver.errors import TaskNotFoundError
from receiver.params import CallbackUrlBody, SubmitBody, TaskQuery, TrackBody
from receiver.submit import SubmitRequest
from receiver.web.http import parse_body, parse_query, respond, services
from receiver.web.operation import operation
from storage.engine import READ_ONLY
from storage.models import Task
from storage.queries import (
    assets_for,
    deliveries_for,
    events_for,
    list_tasks,
    snapshots_for,
)


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
    ok={201: resources.Task},
    errors={
        400: "body is not JSON",
        404: "unknown provider",
        422: "refused before any provider call; names the field",
    },
)
async def post_task(request: Request) -> Response:
    body = await parse_body(request, SubmitBody)
    task = (
        await services(request)
        .submitter()
        .submit(SubmitRequest(body.provider, body.model, body.prompt, body.params))
    )
    return respond(views.task(task), 201)


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
    base_url = runtime.settings.resolved_public_url
    return respond(
        resources.TaskDetail(
            **dict(views.task(task)),
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


routes = [
    Route("/api/callback-urls", post_callback_url, methods=["POST"]),
    Route("/api/tasks", get_tasks, methods=["GET"]),
    Route("/api/tasks", post_task, methods=["POST"]),
    Route("/api/tasks/track", post_track, methods=["POST"]),
    Route("/api/tasks/{task_id}", get_task, methods=["GET"]),
]
