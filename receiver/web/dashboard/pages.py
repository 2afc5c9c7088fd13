"""Dashboard routes: the task list, one task, a list row (for live updates), login.

Pages are rendered on the server from the same tables and queries as the API; the
script in ``static/dashboard.js`` listens to ``/api/events`` and fetches
``/tasks/{id}/row`` (the list) or the page itself (the detail view) when something
changes, so there is one template per thing and nothing rendered twice in two
languages. Access follows the API's rule (``receiver.web.auth``).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from pydantic import ValidationError
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from receiver import clock
from receiver.errors import BodyTooLargeError
from receiver.lifecycle import EventType, Status
from receiver.params import DEFAULT_PAGE, TaskQuery
from receiver.web.dashboard import present
from receiver.web.dashboard.session import COOKIE, MAX_AGE_SECONDS, safe_next, session_value
from receiver.web.http import read_body, services
from receiver.web.operation import HTML, operation
from storage.engine import READ_ONLY
from storage.ledger import attempts_for
from storage.models import OutboxEvent, Task
from storage.queries import (
    assets_for,
    deliveries_for,
    events_for,
    list_tasks,
    snapshots_for,
    stored_assets_for,
)

HERE = Path(__file__).parent
PAGE_SIZE = DEFAULT_PAGE
LOGIN_MAX_BODY = 4096

# Result images may come from any provider CDN until they are mirrored; everything
# else is this server's own, and no inline script or style is needed anywhere.
CSP = (
    "default-src 'self'; img-src 'self' http: https: data:; script-src 'self'; "
    "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    duration_text=present.duration_text,
    size_text=present.size_text,
    event_types=[e.value for e in EventType if e.is_task_event],
)


def render_page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    context = {"now": clock.utcnow(), "ago": present.ago_text, **context}
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=PAGE_HEADERS
    )


@operation(
    "Dashboard: recent tasks, live (filters: status, provider; cursor)",
    "dashboard",
    ok={200: HTML},
)
async def index(request: Request) -> Response:
    """Recent tasks, newest first, updated live."""
    params = request.query_params
    try:
        query = TaskQuery(
            status=params.get("status") or None,
            provider=params.get("provider") or None,
            cursor=params.get("cursor") or None,
            limit=PAGE_SIZE,
        )
    except ValidationError:  # a stale or edited link shows every task, not an error page
        query = TaskQuery(limit=PAGE_SIZE)
    status = query.status.value if query.status else None
    provider, cursor = query.provider, query.cursor
    runtime = services(request)
    async with runtime.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        tasks = await list_tasks(session, query, limit=PAGE_SIZE, before_id=cursor)
        thumbnails = await stored_assets_for(session, [t.id for t in tasks])
        newest = await session.exec(
            select(OutboxEvent.id).order_by(col(OutboxEvent.seq).desc()).limit(1)
        )
        newest_event_id = newest.first()
    rows = [present.task_row(t, thumbnails.get(t.id)) for t in tasks]
    return render_page(
        request,
        "index.html",
        {
            "rows": rows,
            "status": status,
            "provider": provider,
            "statuses": [s.value for s in Status],
            "providers": sorted(runtime.adapters),
            "first_page": cursor is None,
            "next_cursor": tasks[-1].id if len(tasks) == PAGE_SIZE else None,
            "newest_event_id": newest_event_id,
        },
    )


@operation("Dashboard: one task", "dashboard", ok={200: HTML, 404: HTML})
async def task_page(request: Request) -> Response:
    """One task: its images full size, what happened when, and what went wrong."""
    task_id = request.path_params["task_id"]
    async with services(request).sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        task = await session.get(Task, task_id)
        if task is None:
            return render_page(request, "not_found.html", {"task_id": task_id}, 404)
        snapshots = await snapshots_for(session, task_id)
        events = await events_for(session, task_id)
        deliveries = await deliveries_for(session, task_id)
        assets = await assets_for(session, task_id)
        attempts = await attempts_for(session, task_id)
    return render_page(
        request,
        "task.html",
        {
            "task": task,
            "route": task.route,
            "attempts": present.attempts(attempts, task.attempt),
            "tone": present.status_tone(task.status),
            "prompt": present.prompt_of(task),
            "facts": present.facts(task),
            "images": present.images(task, assets),
            "timeline": present.timeline(snapshots, events, deliveries, assets),
            "problems": present.problems(task, snapshots, deliveries, assets),
            "last_event_id": events[-1].id if events else None,
        },
    )


@operation(
    "Dashboard: one task's list row (HTML fragment for live updates)",
    "dashboard",
    ok={200: HTML, 404: "text/plain"},
)
async def task_row(request: Request) -> Response:
    """The task's line of the list, alone: what the live list swaps in."""
    task_id = request.path_params["task_id"]
    async with services(request).sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        task = await session.get(Task, task_id)
        if task is None:
            return Response("no such task", 404, media_type="text/plain")
        thumbnails = await stored_assets_for(session, [task_id])
    row = present.task_row(task, thumbnails.get(task_id))
    return render_page(request, "_row.html", {"row": row})


@operation(
    "Dashboard sign-in form; with ?token= (the link `genhook serve` prints) signs in at once",
    "dashboard",
    ok={200: HTML, 303: None, 401: HTML},
    public=True,
)
async def login_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    given = request.query_params.get("token")
    if given is None:
        return render_page(request, "login.html", {"next": target})
    return _signed_in(request, given, target)


@operation(
    "Trade the API token for a dashboard session cookie",
    "dashboard",
    body_schema={
        "type": "object",
        "properties": {"token": {"type": "string"}, "next": {"type": "string"}},
    },
    body_media_type="application/x-www-form-urlencoded",
    ok={303: None, 401: HTML},
    public=True,
)
async def login_submit(request: Request) -> Response:
    """Trade the API token for the dashboard's session cookie."""
    try:
        form = parse_qs((await read_body(request, LOGIN_MAX_BODY)).decode("utf-8", "replace"))
    except BodyTooLargeError:
        form = {}
    given = (form.get("token") or [""])[0]
    return _signed_in(request, given, safe_next((form.get("next") or ["/"])[0]))


def _signed_in(request: Request, given: str, target: str) -> Response:
    """To ``target`` with a session cookie when ``given`` is the token; else the form again."""
    token = services(request).settings.api_token
    assert token is not None  # resolved before the app is built (receiver.app)
    expected = token.get_secret_value()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return render_page(request, "login.html", {"next": target, "failed": True}, 401)
    response = RedirectResponse(target, 303)
    response.set_cookie(
        COOKIE,
        session_value(expected),
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@operation("End the dashboard session", "dashboard", ok={303: None}, public=True)
async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response


routes: list[BaseRoute] = [
    Route("/", index, methods=["GET"]),
    Route("/tasks/{task_id}", task_page, methods=["GET"]),
    Route("/tasks/{task_id}/row", task_row, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["GET"]),
    Mount(
        "/dashboard/static",
        app=operation(
            "Dashboard stylesheet and script",
            "dashboard",
            ok={200: ("text/css", "text/javascript")},
            public=True,
        )(StaticFiles(directory=HERE / "static")),
        name="static",
    ),
]
