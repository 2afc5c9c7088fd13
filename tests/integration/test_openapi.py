"""``/openapi.json`` is built from the route table and describes every route."""

from __future__ import annotations

from pathlib import Path

import orjson
from starlette.routing import BaseRoute

from receiver.app import create_app
from receiver.params import SubmitBody
from receiver.web.openapi import openapi_document, route_operations
from tests.conftest import make_settings
from tests.support.harness import Harness


def app_routes(tmp_path: Path) -> list[BaseRoute]:
    return create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db")).routes


def test_every_route_is_in_the_document_and_described(tmp_path: Path) -> None:
    routes = app_routes(tmp_path)
    document = openapi_document(routes)
    served = {(m, p) for m, p, _, _ in route_operations(routes)}
    in_document = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert served == in_document
    undocumented = sorted(
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("x-undocumented")
    )
    assert undocumented == [], f"give these handlers an @operation: {undocumented}"
    # the new routes of this issue are there, with the right path parameter types
    for method, path in [
        ("GET", "/"),
        ("GET", "/tasks/{task_id}"),
        ("GET", "/assets/{task_id}/{name}"),
        ("GET", "/openapi.json"),
        ("GET", "/api/events"),
    ]:
        assert (method, path) in served


def test_request_bodies_are_the_models_the_handlers_validate_with(tmp_path: Path) -> None:
    document = openapi_document(app_routes(tmp_path))
    body = document["paths"]["/api/tasks"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/SubmitBody"}
    own = SubmitBody.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = own.pop("$defs")  # the body's nested models are components of their own
    assert document["components"]["schemas"]["SubmitBody"] == own
    for name, schema in nested.items():
        assert document["components"]["schemas"][name] == schema
    task_param = document["paths"]["/api/tasks/{task_id}"]["get"]["parameters"][0]
    assert task_param == {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert {"bearer": []} in document["paths"]["/api/tasks"]["get"]["security"]


async def test_the_served_document_is_the_generated_one(genhook: Harness) -> None:
    response = await genhook.client.get("/openapi.json")
    assert response.status_code == 200
    expected = openapi_document(create_app(genhook.services.settings).routes)
    assert response.json() == orjson.loads(orjson.dumps(expected))
    assert response.json()["openapi"] == "3.1.0"
