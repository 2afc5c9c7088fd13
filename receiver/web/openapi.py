"""``GET /openapi.json``: the HTTP API described as OpenAPI 3.1, built from the code.

The document is generated from the running application's route table, so a route
cannot exist without appearing in it: paths, methods and path parameters (with their
types, from Starlette's convertors) come from the routes themselves, and request
bodies are the JSON Schemas of the very pydantic models the handlers validate with.
What a route table cannot say (a summary, query parameters, the answers) lives in
:data:`OPERATIONS`, next to nothing else; a route missing there still appears,
flagged ``x-undocumented``, and ``tests/integration/test_openapi.py`` fails on it.

Chosen over Starlette's ``SchemaGenerator`` (YAML in docstrings): that would put
untyped YAML into every handler's docstring and re-state the request models by hand,
so the schemas could drift from the validation that actually runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.convertors import FloatConvertor, IntegerConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from receiver.assets.queue import STATUSES as ASSET_STATUSES
from receiver.delivery.deliveries import STATUSES as DELIVERY_STATUSES
from receiver.lifecycle import EventType, Status
from receiver.web.delivery import ReplayBody, RotateBody, SubscriberBody
from receiver.web.http import JSONResponse
from receiver.web.tasks import CallbackUrlBody, SubmitBody, TrackBody

TITLE = "genhook"
VERSION = "0.1.0"

JSON = "application/json"
HTML = "text/html"
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # query | header
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    description: str
    schema: dict[str, Any] | None = None
    media_type: str = JSON


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tag: str
    params: Sequence[Param] = ()
    body: type[BaseModel] | dict[str, Any] | None = None
    body_media_type: str = JSON
    answers: dict[int, Answer] = field(default_factory=dict)
    public: bool = False  # no admin credential needed


def _error(description: str) -> Answer:
    return Answer(description, ERROR_REF)


def _page_params(cursor_schema: dict[str, Any]) -> list[Param]:
    return [
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
        Param("cursor", "query", cursor_schema, "``next_cursor`` of the previous page"),
    ]


TIME = {"type": "string", "format": "date-time"}
STATUS_ENUM = {"type": "string", "enum": [s.value for s in Status]}
EVENT_TYPE_ENUM = {"type": "string", "enum": [e.value for e in EventType]}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/healthz"): Operation(
        "Liveness", "service", answers={200: Answer("the process answers")}, public=True
    ),
    ("GET", "/readyz"): Operation(
        "Readiness: the database answers",
        "service",
        answers={200: Answer("ready"), 503: _error("the database does not answer")},
        public=True,
    ),
    ("GET", "/openapi.json"): Operation(
        "This document", "service", answers={200: Answer("OpenAPI 3.1")}, public=True
    ),
    ("POST", "/callbacks/{provider}/{token}"): Operation(
        "Provider callback (the URL token is the credential)",
        "callbacks",
        body={"type": "object", "description": "the provider's own callback JSON"},
        answers={
            200: Answer("stored: applied, duplicate, stale, anomaly or quarantined"),
            401: _error("bad or missing token"),
            404: _error("unknown provider, or one without callbacks"),
            413: _error("body over GENHOOK_CALLBACK_MAX_BODY"),
            503: _error("database unavailable; the provider should retry"),
        },
        public=True,
    ),
    ("POST", "/api/callback-urls"): Operation(
        "Create a task that waits for its callback; returns the callback URL",
        "tasks",
        body=CallbackUrlBody,
        answers={
            201: Answer("task and callback URL", _ref("CallbackUrl")),
            400: _error("body is not JSON"),
            404: _error("unknown provider"),
            422: _error("invalid body, or a provider without callbacks"),
        },
    ),
    ("GET", "/api/tasks"): Operation(
        "Tasks, newest first",
        "tasks",
        params=[
            Param("status", "query", STATUS_ENUM),
            Param("provider", "query", {"type": "string"}),
            Param("model", "query", {"type": "string"}),
            Param("created_since", "query", TIME, "ISO 8601 with a zone"),
            Param("created_until", "query", TIME, "ISO 8601 with a zone"),
            *_page_params({"type": "string"}),
        ],
        answers={200: Answer("a page of tasks", _ref("TaskPage")), 422: _error("bad filter")},
    ),
    ("POST", "/api/tasks"): Operation(
        "Submit a generation job",
        "tasks",
        body=SubmitBody,
        answers={
            201: Answer("the task", _ref("Task")),
            404: _error("unknown provider"),
            422: _error("refused before any provider call; names the field"),
        },
    ),
    ("POST", "/api/tasks/track"): Operation(
        "Adopt a task created elsewhere",
        "tasks",
        body=TrackBody,
        answers={
            201: Answer("the task", _ref("Task")),
            404: _error("unknown provider"),
            409: _error("already tracked"),
            422: _error("invalid body, or the provider does not know the task"),
        },
    ),
    ("GET", "/api/tasks/{task_id}"): Operation(
        "One task with its snapshots, events, deliveries and images",
        "tasks",
        answers={200: Answer("the task", _ref("TaskDetail")), 404: _error("no such task")},
    ),
    ("GET", "/api/events"): Operation(
        "Live task events (Server-Sent Events), resumable with Last-Event-ID",
        "events",
        params=[
            Param("task_id", "query", {"type": "string"}, "only this task's events"),
            Param("type", "query", {"type": "array", "items": EVENT_TYPE_ENUM}),
            Param("last_event_id", "query", {"type": "string"}, "resume after this event"),
            Param("Last-Event-ID", "header", {"type": "string"}, "resume after this event"),
        ],
        answers={
            200: Answer("the stream", {"type": "string"}, "text/event-stream"),
            400: _error("unknown Last-Event-ID"),
            404: _error("no such task"),
            422: _error("unknown event type"),
        },
    ),
    ("GET", "/api/subscribers"): Operation(
        "Webhook subscribers",
        "delivery",
        answers={200: Answer("all subscribers", {"type": "object"})},
    ),
    ("POST", "/api/subscribers"): Operation(
        "Add a webhook subscriber",
        "delivery",
        body=SubscriberBody,
        answers={201: Answer("the subscriber, with its secret"), 422: _error("unusable field")},
    ),
    ("GET", "/api/subscribers/{subscriber_id}"): Operation(
        "One subscriber",
        "delivery",
        answers={200: Answer("the subscriber"), 404: _error("no such subscriber")},
    ),
    ("DELETE", "/api/subscribers/{subscriber_id}"): Operation(
        "Remove a subscriber",
        "delivery",
        answers={204: Answer("removed", None), 404: _error("no such subscriber")},
    ),
    ("POST", "/api/subscribers/{subscriber_id}/disable"): Operation(
        "Disable a subscriber (its pending deliveries are dead-lettered)",
        "delivery",
        answers={200: Answer("the subscriber"), 404: _error("no such subscriber")},
    ),
    ("POST", "/api/subscribers/{subscriber_id}/enable"): Operation(
        "Enable a subscriber",
        "delivery",
        answers={200: Answer("the subscriber"), 404: _error("no such subscriber")},
    ),
    ("POST", "/api/subscribers/{subscriber_id}/rotate"): Operation(
        "Rotate a subscriber's signing secret",
        "delivery",
        body=RotateBody,
        answers={
            200: Answer("the subscriber, with its new secret"),
            404: _error("no such subscriber"),
            422: _error("malformed secret"),
        },
    ),
    ("GET", "/api/deliveries"): Operation(
        "Webhook deliveries, newest first",
        "delivery",
        params=[
            Param("subscriber", "query", {"type": "string"}),
            Param("status", "query", {"type": "string", "enum": list(DELIVERY_STATUSES)}),
            Param("task_id", "query", {"type": "string"}),
            Param("event", "query", {"type": "string"}),
            *_page_params({"type": "integer", "minimum": 1, "maximum": 2**63 - 1}),
        ],
        answers={200: Answer("a page of deliveries"), 422: _error("bad filter")},
    ),
    ("POST", "/api/deliveries/replay"): Operation(
        "Send deliveries of one subscriber again",
        "delivery",
        body=ReplayBody,
        answers={
            200: Answer("how many were re-queued"),
            404: _error("no such subscriber or event"),
            422: _error("invalid body"),
        },
    ),
    ("GET", "/api/deliveries/{delivery_id}"): Operation(
        "One delivery with its attempts",
        "delivery",
        answers={200: Answer("the delivery"), 404: _error("no such delivery")},
    ),
    ("GET", "/assets/{task_id}/{name}"): Operation(
        "A mirrored result image, byte for byte",
        "assets",
        answers={
            200: Answer("the image", {"type": "string", "format": "binary"}, "image/*"),
            404: _error("no such asset"),
        },
    ),
    ("GET", "/"): Operation(
        "Dashboard: recent tasks, live",
        "dashboard",
        params=[
            Param("status", "query", {"type": "string"}),
            Param("provider", "query", {"type": "string"}),
            Param("cursor", "query", {"type": "string"}),
        ],
        answers={200: Answer("HTML page", {"type": "string"}, HTML)},
    ),
    ("GET", "/tasks/{task_id}"): Operation(
        "Dashboard: one task",
        "dashboard",
        answers={
            200: Answer("HTML page", {"type": "string"}, HTML),
            404: Answer("HTML page", {"type": "string"}, HTML),
        },
    ),
    ("GET", "/tasks/{task_id}/row"): Operation(
        "Dashboard: one task's list row (HTML fragment for live updates)",
        "dashboard",
        answers={200: Answer("HTML fragment", {"type": "string"}, HTML), 404: Answer("none")},
    ),
    ("GET", "/login"): Operation(
        "Dashboard sign-in form (when GENHOOK_API_TOKEN is set)",
        "dashboard",
        params=[Param("next", "query", {"type": "string"})],
        answers={200: Answer("HTML page", {"type": "string"}, HTML), 303: Answer("no token set")},
        public=True,
    ),
    ("POST", "/login"): Operation(
        "Trade the API token for a dashboard session cookie",
        "dashboard",
        body={
            "type": "object",
            "properties": {"token": {"type": "string"}, "next": {"type": "string"}},
        },
        body_media_type="application/x-www-form-urlencoded",
        answers={303: Answer("signed in"), 401: Answer("wrong token", None, HTML)},
        public=True,
    ),
    ("GET", "/logout"): Operation(
        "End the dashboard session", "dashboard", answers={303: Answer("signed out")}, public=True
    ),
    ("GET", "/dashboard/static/{path}"): Operation(
        "Dashboard stylesheet and script",
        "dashboard",
        answers={200: Answer("the file", {"type": "string"}, "text/plain"), 404: Answer("none")},
        public=True,
    ),
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "CallbackUrl": {
        "type": "object",
        "properties": {
            "task_id": {"type": "string"},
            "provider": {"type": "string"},
            "callback_url": {"type": "string", "format": "uri"},
        },
    },
    "Task": {
        "type": "object",
        "description": "The normalized task, as in every event's ``data``",
        "properties": {
            "id": {"type": "string"},
            "provider": {"type": "string"},
            "provider_task_id": {"type": ["string", "null"]},
            "model": {"type": ["string", "null"]},
            "status": STATUS_ENUM,
            "result_urls": {"type": "array", "items": {"type": "string"}},
            "asset_urls": {
                "type": "array",
                "items": {"type": "string"},
                "description": "genhook's copies; set once every image is stored",
            },
            "error": {"type": ["object", "null"]},
            "last_source": {"type": ["string", "null"]},
            "created_at": TIME,
            "terminal_at": {"type": ["string", "null"], "format": "date-time"},
            "result_expires_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Asset": {
        "type": "object",
        "properties": {
            "position": {"type": "integer"},
            "status": {"type": "string", "enum": list(ASSET_STATUSES)},
            "source_url": {"type": "string"},
            "url": {"type": ["string", "null"]},
            "content_type": {"type": ["string", "null"]},
            "byte_size": {"type": ["integer", "null"]},
            "sha256": {"type": ["string", "null"]},
            "width": {"type": ["integer", "null"]},
            "height": {"type": ["integer", "null"]},
            "error": {"type": ["object", "null"]},
        },
    },
    "TaskDetail": {
        "allOf": [
            _ref("Task"),
            {
                "type": "object",
                "properties": {
                    "snapshots": {"type": "array", "items": {"type": "object"}},
                    "events": {"type": "array", "items": {"type": "object"}},
                    "deliveries": {"type": "array", "items": {"type": "object"}},
                    "assets": {"type": "array", "items": _ref("Asset")},
                },
            },
        ]
    },
    "TaskPage": {
        "type": "object",
        "properties": {
            "tasks": {"type": "array", "items": _ref("Task")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
}


def route_operations(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``(method, path, path parameter types)`` for every endpoint of ``routes``."""
    for route in routes:
        if isinstance(route, Route):
            types = {name: _param_type(conv) for name, conv in route.param_convertors.items()}
            for method in sorted(route.methods or ()):
                if method != "HEAD":  # Starlette adds HEAD to every GET by itself
                    yield method, route.path, types
        elif isinstance(route, Mount):  # static files: one catch-all GET
            yield "GET", f"{route.path}/{{path}}", {"path": "string"}


def _param_type(convertor: object) -> str:
    if isinstance(convertor, IntegerConvertor):
        return "integer"
    if isinstance(convertor, FloatConvertor):
        return "number"
    return "string"


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    schemas: dict[str, Any] = dict(COMPONENTS)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, path_types in route_operations(routes):
        operation = OPERATIONS.get((method, path))
        paths.setdefault(path, {})[method.lower()] = (
            _render(operation, path_types, schemas)
            if operation is not None
            else {
                "summary": "undocumented",
                "x-undocumented": True,
                "parameters": _path_params(path_types),
                "responses": {"default": {"description": "not described"}},
            }
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Callback receiver, poller and webhook relay for asynchronous "
            "image-generation gateways. Admin routes need `Authorization: Bearer "
            "$GENHOOK_API_TOKEN` when it is set (the dashboard's session cookie works for "
            "reads); without a token they answer loopback clients only.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "dashboardSession": {"type": "apiKey", "in": "cookie", "name": "genhook_session"},
            },
        },
    }


def _path_params(types: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
        for name, kind in types.items()
    ]


def _render(
    operation: Operation, path_types: dict[str, str], schemas: dict[str, Any]
) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": [
            *_path_params(path_types),
            *(
                {
                    "name": p.name,
                    "in": p.where,
                    "required": False,
                    "schema": p.schema,
                    **({"description": p.description} if p.description else {}),
                }
                for p in operation.params
            ),
        ],
        "responses": {
            str(status): {
                "description": answer.description,
                **(
                    {"content": {answer.media_type: {"schema": answer.schema}}}
                    if answer.schema is not None
                    else {}
                ),
            }
            for status, answer in operation.answers.items()
        },
    }
    if operation.public:
        rendered["security"] = []
    else:
        rendered["security"] = [{"bearer": []}, {"dashboardSession": []}]
    if operation.body is not None:
        rendered["requestBody"] = {
            "required": True,
            "content": {operation.body_media_type: {"schema": _body_schema(operation, schemas)}},
        }
    return rendered


def _body_schema(operation: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    body = operation.body
    if isinstance(body, dict):
        return body
    assert body is not None
    schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[body.__name__] = schema
    return _ref(body.__name__)


async def get_openapi(request: Request) -> Response:
    """The document for this very application's routes."""
    document: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if document is None:
        document = request.app.state.openapi = openapi_document(request.app.routes)
    return JSONResponse(document)


routes = [Route("/openapi.json", get_openapi, methods=["GET"])]
