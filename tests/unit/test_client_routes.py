"""The client's side of routes and costs, against httpx's MockTransport: what
``submit(route=...)``, ``routes()`` and ``usage()`` send and how they read the
answers of the contract; arguments that cannot work are refused before anything is
sent. (Against a real server: tests/integration/test_routes_client.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from receiver.client import ApiError, ApiRequestError, AsyncGenhook, Genhook
from receiver.params import UsageGrouping

ROUTES = {
    "routes": [
        {
            "name": "nano-banana",
            "description": "Gemini 2.5 Flash Image, three gateways",
            "targets": [
                {
                    "provider": "apimall",
                    "model": "nano-banana",
                    "fields": {"aspect_ratio": "aspect_ratio"},
                },
                {
                    "provider": "apimodels",
                    "model": "gemini-2.5-flash-image",
                    "fields": {"aspect_ratio": "aspect_ratio"},
                },
                {
                    "provider": "apimart",
                    "model": "gemini-2.5-flash-image-preview",
                    "fields": {"aspect_ratio": "size"},
                },
            ],
        }
    ]
}
USAGE = {
    "group_by": "provider",
    "since": "2026-12-01T00:00:00Z",
    "until": None,
    "rows": [
        {
            "key": "apimall",
            "provider": "apimall",
            "unit": "credits",
            "attempts": 3,
            "images": 2,
            "cost": 16.0,
        },
        {
            "key": "apimart",
            "provider": "apimart",
            "unit": "USD",
            "attempts": 1,
            "images": 1,
            "cost": 0.039,
        },
    ],
}
REFUSED = {"error": {"code": "invalid_request", "message": "no such route", "field": "route"}}


class Recorder:
    """Answers every request with one canned answer and keeps what was sent."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body, headers=self.headers)

    @property
    def sent(self) -> dict[str, Any]:
        (request,) = self.requests
        loaded: dict[str, Any] = orjson.loads(request.content)
        return loaded


def sync_client(recorder: Recorder) -> Genhook:
    return Genhook("http://genhook.test", "t", transport=httpx.MockTransport(recorder))


def async_client(recorder: Recorder) -> AsyncGenhook:
    return AsyncGenhook("http://genhook.test", "t", transport=httpx.MockTransport(recorder))


def test_submit_to_a_route_sends_the_route_and_no_provider() -> None:
    recorder = Recorder(422, REFUSED)
    with sync_client(recorder) as genhook, pytest.raises(ApiRequestError) as refused:
        genhook.submit(route="nano-banana", prompt="a fox", params={"aspect_ratio": "16:9"})
    assert refused.value.field == "route"
    assert recorder.sent == {
        "route": "nano-banana",
        "prompt": "a fox",
        "params": {"aspect_ratio": "16:9"},
    }
    (request,) = recorder.requests
    assert request.url.path == "/api/tasks"
    assert request.headers["Idempotency-Key"].startswith("genhook-py-")


def test_submit_to_a_provider_still_sends_provider_and_model() -> None:
    recorder = Recorder(422, REFUSED)
    with sync_client(recorder) as genhook, pytest.raises(ApiRequestError):
        genhook.submit("apimart", model="gpt-image-2", prompt="a lighthouse")
    assert recorder.sent == {
        "provider": "apimart",
        "model": "gpt-image-2",
        "prompt": "a lighthouse",
        "params": {},
    }


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"route": "nano-banana", "provider": "apimall"}, "not both"),
        ({"route": "nano-banana", "model": "nano-banana"}, "not both"),
        ({}, "needs a provider"),
        ({"model": "nano-banana"}, "needs a provider"),
        ({"provider": "apimall"}, "needs model="),
    ],
)
async def test_submit_refuses_anything_but_one_target_before_sending(
    arguments: dict[str, Any], says: str
) -> None:
    recorder = Recorder(500, {})
    with sync_client(recorder) as genhook, pytest.raises(TypeError, match=says):
        genhook.submit(prompt="a fox", **arguments)
    async with async_client(recorder) as agenhook:
        with pytest.raises(TypeError, match=says):
            await agenhook.submit(prompt="a fox", **arguments)
    assert recorder.requests == []


def test_a_budget_refusal_keeps_its_code_and_status() -> None:
    body = {
        "error": {
            "code": "budget_exceeded",
            "message": "apimall's daily budget of 100 credits is spent (102 credits today)",
        }
    }
    recorder = Recorder(429, body, {"Retry-After": "3600"})
    with sync_client(recorder) as genhook, pytest.raises(ApiError) as refused:
        genhook.submit("apimall", model="nano-banana", prompt="a fox")
    assert (refused.value.status, refused.value.code) == (429, "budget_exceeded")
    assert "daily budget" in str(refused.value)
    assert len(recorder.requests) == 1  # not retried: the budget is spent until midnight


def test_routes_reads_each_route_with_its_targets_in_order() -> None:
    recorder = Recorder(200, ROUTES)
    with sync_client(recorder) as genhook:
        (route,) = genhook.routes()
    assert recorder.requests[0].url.path == "/api/routes"
    assert route.name == "nano-banana"
    assert [(t.provider, t.model) for t in route.targets] == [
        ("apimall", "nano-banana"),
        ("apimodels", "gemini-2.5-flash-image"),
        ("apimart", "gemini-2.5-flash-image-preview"),
    ]
    assert route.targets[2].fields == {"aspect_ratio": "size"}


CALLS: list[tuple[dict[str, Any], dict[str, str]]] = [
    ({}, {"group_by": "provider"}),
    ({"group_by": "model"}, {"group_by": "model"}),
    ({"group_by": UsageGrouping.DAY}, {"group_by": "day"}),
    (
        {"since": datetime(2026, 12, 1, tzinfo=UTC), "until": "2026-12-02T00:00:00+00:00"},
        {
            "since": "2026-12-01T00:00:00+00:00",
            "until": "2026-12-02T00:00:00+00:00",
            "group_by": "provider",
        },
    ),
]


@pytest.mark.parametrize(("arguments", "query"), CALLS)
async def test_usage_sends_only_the_parameters_given(
    arguments: dict[str, Any], query: dict[str, str]
) -> None:
    recorder = Recorder(200, USAGE)
    with sync_client(recorder) as genhook:
        usage = genhook.usage(**arguments)
    async with async_client(recorder) as agenhook:
        ausage = await agenhook.usage(**arguments)
    for request in recorder.requests:
        assert request.url.path == "/api/usage"
        assert dict(request.url.params) == query
    assert usage == ausage
    assert usage.group_by == "provider" and usage.until is None
    assert [(r.key, r.unit, r.cost) for r in usage.rows] == [
        ("apimall", "credits", 16.0),
        ("apimart", "USD", 0.039),
    ]


def test_usage_refuses_an_unknown_grouping_before_sending() -> None:
    recorder = Recorder(200, USAGE)
    with sync_client(recorder) as genhook, pytest.raises(ValueError, match="provider, model, day"):
        genhook.usage(group_by="week")
    assert recorder.requests == []


def test_both_clients_offer_the_same_new_calls() -> None:
    import inspect

    def signature(method: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]

    for name in ("submit", "routes", "usage"):
        assert signature(getattr(Genhook, name)) == signature(getattr(AsyncGenhook, name))
