"""``GET /openapi.json``: the HTTP API as OpenAPI 3.1, generated from the code.

Paths, methods and path parameters (typed from Starlette's convertors) come from the
application's route table; everything else from the :class:`~receiver.web.operation.Operation`
each handler declares: query parameters are the fields of its query model, request
bodies the JSON Schemas of the models the handler validates with, answers the
schemas of the resources it builds. This module holds only what belongs to the
document itself (title, description, security schemes). A route without an
operation still appears, flagged ``x-undocumented``, and a test fails on it.

Chosen over Starlette's ``SchemaGenerator`` (YAML in docstrings): that would restate
every model by hand in untyped text, which is how documents drift.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.convertors import FloatConvertor, IntegerConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from receiver import resources
from receiver.web.http import JSONResponse
from receiver.web.operation import JSON, Operation, operation, operation_of

TITLE = "genhook"
DESCRIPTION = (
    "Callback receiver, poller and webhook relay for asynchronous image-generation "
    "gateways. Admin routes always need `Authorization: Bearer <token>`: "
    "`GENHOOK_API_TOKEN`, or the token the server generated into its data directory "
    "(`api-token`). The dashboard's session cookie works for reads."
)
REF = "#/components/schemas/{model}"


def route_operations(
    routes: Sequence[BaseRoute],
) -> Iterator[tuple[str, str, dict[str, str], Operation | None]]:
    """``(method, path, path parameter types, operation)`` for every endpoint."""
    for route in routes:
        if isinstance(route, Route):
            types = {name: _param_type(conv) for name, conv in route.param_convertors.items()}
            for method in sorted(route.methods or ()):
                if method != "HEAD":  # Starlette adds HEAD to every GET by itself
                    yield method, route.path, types, operation_of(route.endpoint)
        elif isinstance(route, Mount):  # static files: one catch-all GET
            yield "GET", f"{route.path}/{{path}}", {"path": "string"}, operation_of(route.app)


def _param_type(convertor: object) -> str:
    if isinstance(convertor, IntegerConvertor):
        return "integer"
    if isinstance(convertor, FloatConvertor):
        return "number"
    return "string"


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    found = list(route_operations(routes))
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (resources.Error, "serialization"): None
    }
    for *_, op in found:
        if op is None:
            continue
        for answer in op.ok.values():
            if isinstance(answer, type):
                models[(answer, "serialization")] = None
        if op.body is not None:
            models[(op.body, "validation")] = None
    refs, definitions = models_json_schema(list(models), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, path_types, op in found:
        rendered = (
            _render(op, path_types, refs)
            if op is not None
            else {
                "summary": "undocumented",
                "x-undocumented": True,
                "parameters": _path_params(path_types),
                "responses": {"default": {"description": "not described"}},
            }
        )
        paths.setdefault(path, {})[method.lower()] = rendered
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": version("genhook"), "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
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


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        prop.pop("title", None)
        prop = _not_null(prop)
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        if prop.get("type") == "array":
            param["style"], param["explode"] = "form", True
        params.append(param)
    return params


Refs = Mapping[tuple[Any, JsonSchemaMode], Any]


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or has a value: ``X | None`` is documented as ``X``."""
    options = prop.get("anyOf")
    if options and {"type": "null"} in options and prop.get("default", ...) is None:
        rest = [option for option in options if option != {"type": "null"}]
        unwrapped = rest[0] if len(rest) == 1 else {"anyOf": rest}
        return {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")}, **unwrapped}
    return prop


def _render(op: Operation, path_types: dict[str, str], refs: Refs) -> dict[str, Any]:
    parameters = _path_params(path_types)
    if op.query is not None:
        parameters += _query_params(op.query)
    parameters += [
        {
            "name": h.name,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": h.description,
        }
        for h in op.headers
    ]
    responses: dict[str, Any] = {}
    for status, answer in op.ok.items():
        responses[str(status)] = _answer(answer, refs)
    error_ref = refs[(resources.Error, "serialization")]
    for status, description in op.errors.items():
        responses[str(status)] = {
            "description": description,
            "content": {JSON: {"schema": error_ref}},
        }
    rendered: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
        "security": [] if op.public else [{"bearer": []}, {"dashboardSession": []}],
    }
    if op.description:
        rendered["description"] = op.description
    body = refs[(op.body, "validation")] if op.body is not None else op.body_schema
    if body is not None:
        rendered["requestBody"] = {
            "required": True,
            "content": {op.body_media_type: {"schema": dict(body)}},
        }
    return rendered


def _answer(answer: Any, refs: Refs) -> Any:
    if answer is None:
        return {"description": "no content"}
    if isinstance(answer, str | tuple):
        media_types = (answer,) if isinstance(answer, str) else answer
        return {
            "description": ", ".join(media_types),
            "content": {m: {"schema": _kind(m)} for m in media_types},
        }
    return {
        "description": (answer.__doc__ or answer.__name__).strip().splitlines()[0],
        "content": {JSON: {"schema": refs[(answer, "serialization")]}},
    }


def _kind(media_type: str) -> dict[str, str]:
    if media_type == JSON:
        return {"type": "object"}
    if media_type.startswith("image/"):
        return {"type": "string", "format": "binary"}
    return {"type": "string"}


@operation("This document", "service", ok={200: JSON}, public=True)
async def get_openapi(request: Request) -> Response:
    """The document for this very application's routes."""
    document: dict[str, Any] | None = getattr(request.app.state, "openapi", None)
    if document is None:
        document = request.app.state.openapi = openapi_document(request.app.routes)
    return JSONResponse(document)


routes = [Route("/openapi.json", get_openapi, methods=["GET"])]
