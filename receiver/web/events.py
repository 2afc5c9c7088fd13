"""``GET /api/events``: the live event stream as Server-Sent Events.

The SSE ``id`` is the event id and ``event`` its type; the stream itself is
:class:`receiver.stream.EventStream`, which ``genhook watch`` reads too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import metrics
from receiver.errors import EventNotFoundError, TaskNotFoundError
from receiver.params import EventQuery
from receiver.stream import EventFilter
from receiver.web.http import error, parse_query, services
from receiver.web.operation import Header, operation
from storage.models import Task

PING_SECONDS = 15  # SSE comment lines that keep idle connections (and proxies) open


@operation(
    "Live task events (Server-Sent Events), resumable with Last-Event-ID",
    "events",
    query=EventQuery,
    headers=(Header("Last-Event-ID", "resume after this event"),),
    ok={200: "text/event-stream"},
    errors={400: "unknown Last-Event-ID", 404: "no such task", 422: "unknown event type"},
)
async def get_events(request: Request) -> Response:
    """Without ``Last-Event-ID`` the stream starts now (with ``task_id``: with that
    task's history); with it, right after that event. Browsers' ``EventSource``
    sends the header by itself."""
    runtime = services(request)
    query = parse_query(request, EventQuery)
    last_event_id = request.headers.get("last-event-id") or query.last_event_id
    filters = EventFilter(task_id=query.task_id, types=frozenset(t.value for t in query.type))
    if filters.task_id is not None:
        async with runtime.sessions() as session:
            if await session.get(Task, filters.task_id) is None:
                raise TaskNotFoundError(filters.task_id)
    try:
        position = await runtime.stream.start(filters, last_event_id)
    except EventNotFoundError as exc:
        return error(400, exc.code, f"{exc}: cannot resume after it")

    async def events() -> AsyncIterator[ServerSentEvent]:
        with metrics.sse_stream():
            async for event in runtime.stream.follow(position, filters):
                yield ServerSentEvent(data=event.data, id=event.id, event=event.type)

    return EventSourceResponse(events(), ping=PING_SECONDS)


routes = [Route("/api/events", get_events, methods=["GET"])]
