"""``genhook routes``, ``usage``, ``submit --route`` and ``status --attempts``: the
arguments they refuse (exit 2, before any request) and the tables they print, with
the client talking to httpx's MockTransport instead of a server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from receiver.cli import routes as routes_cli
from receiver.cli import runner as cli_runner
from receiver.cli.main import app
from receiver.cli.runner import EXIT_REFUSED, EXIT_USAGE
from receiver.cli.tasks import check_target
from receiver.client import Genhook
from receiver.resources import RouteTarget, RouteView, Usage, UsageRow
from tests.support.attempts import Tried
from tests.unit.test_client_routes import ROUTES, USAGE

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Handler]]:
    """The CLI's client, on a transport that answers with the handlers put here."""
    handlers: list[Handler] = []
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handlers[0](request)

    monkeypatch.setattr(
        cli_runner,
        "client",
        lambda: Genhook("http://genhook.test", "t", transport=httpx.MockTransport(handle)),
    )
    yield handlers


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_routes_prints_each_route_with_its_targets_in_order(answers: list[Handler]) -> None:
    answers.append(lambda request: httpx.Response(200, json=ROUTES))
    code, out, err = invoke("routes")
    assert code == 0, err
    header, line = out.splitlines()
    assert header.split() == ["route", "targets", "description"]
    assert line.startswith("nano-banana ")
    assert (
        "apimall/nano-banana → apimodels/gemini-2.5-flash-image → "
        "apimart/gemini-2.5-flash-image-preview"
    ) in line


def test_routes_json_is_the_api_document(answers: list[Handler]) -> None:
    answers.append(lambda request: httpx.Response(200, json=ROUTES))
    code, out, _ = invoke("routes", "--json")
    assert code == 0
    assert json.loads(out) == ROUTES


def test_usage_prints_a_row_per_provider_and_unit(answers: list[Handler]) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=USAGE)

    answers.append(answer)
    code, out, err = invoke("usage", "--since", "2026-12-01")
    assert code == 0, err
    assert dict(seen[0].url.params) == {
        "since": "2026-12-01T00:00:00+00:00",  # a date without a zone is UTC midnight
        "group_by": "provider",
    }
    rows = [line.split() for line in out.splitlines()]
    assert rows == [
        ["provider", "unit", "attempts", "images", "cost"],
        ["apimall", "credits", "3", "2", "16"],
        ["apimart", "USD", "1", "1", "0.039"],
    ]


def test_usage_json_and_grouping_by_day(answers: list[Handler]) -> None:
    by_day = {
        **USAGE,
        "group_by": "day",
        "rows": [
            {
                "key": "2026-12-01",
                "provider": "apimall",
                "unit": "credits",
                "attempts": 2,
                "images": 2,
                "cost": 8.0,
            },
        ],
    }
    answers.append(lambda request: httpx.Response(200, json=by_day))
    code, out, _ = invoke("usage", "--group-by", "day")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["day", "provider", "unit", "attempts", "images", "cost"],
        ["2026-12-01", "apimall", "credits", "2", "2", "8"],
    ]
    code, out, _ = invoke("usage", "--group-by", "day", "--json")
    assert code == 0 and json.loads(out)["rows"] == by_day["rows"]


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "--since", "yesterday"],
        ["usage", "--until", "2026-13-01"],
        ["usage", "--group-by", "week"],
        ["submit", "--prompt", "a fox"],
        ["submit", "apimall", "--prompt", "a fox"],
        ["submit", "--route", "nano-banana", "--model", "nano-banana", "--prompt", "a fox"],
        ["submit", "apimall", "--route", "nano-banana", "--prompt", "a fox"],
        ["submit", "--route", "nano-banana"],
        ["submit", "--route", "nano-banana", "--prompt", "a fox", "--param", "oops"],
    ],
)
def test_unusable_arguments_are_bad_usage_before_any_request(
    answers: list[Handler], args: list[str]
) -> None:
    code, _, err = invoke(*args)
    assert code == EXIT_USAGE, err
    assert answers == []  # no handler: a request would have failed the command otherwise


def test_submit_to_a_route_sends_it_and_a_refusal_is_exit_1(answers: list[Handler]) -> None:
    bodies: list[dict[str, Any]] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        error = {"code": "budget_exceeded", "message": "apimall's daily budget is spent"}
        return httpx.Response(429, json={"error": error}, headers={"Retry-After": "60"})

    answers.append(refuse)
    code, _, err = invoke(
        "submit", "--route", "nano-banana", "--prompt", "a fox", "--param", "aspect_ratio=16:9"
    )
    assert code == EXIT_REFUSED
    assert "daily budget is spent" in err
    assert bodies == [
        {"route": "nano-banana", "prompt": "a fox", "params": {"aspect_ratio": "16:9"}}
    ]


def test_check_target_says_what_to_give() -> None:
    check_target("apimall", "nano-banana", None)
    check_target(None, None, "nano-banana")
    with pytest.raises(ValueError, match="not both"):
        check_target("apimall", "nano-banana", "nano-banana")
    with pytest.raises(ValueError, match="genhook routes"):
        check_target(None, None, None)
    with pytest.raises(ValueError, match="--model is required"):
        check_target("apimall", None, None)


def test_route_rows_and_amounts() -> None:
    route = RouteView(
        name="solo",
        description="",
        targets=[RouteTarget(provider="apimart", model="gpt-image-2", fields={})],
    )
    assert routes_cli.route_rows([route]) == [["solo", "apimart/gpt-image-2", ""]]
    assert routes_cli.route_rows([RouteView(name="empty", description="", targets=[])]) == [
        ["empty", "—", ""]
    ]
    assert [routes_cli.amount(v) for v in (16.0, 0.117, 0.1 + 0.2, 1234567.5, 0.0, None)] == [
        "16",
        "0.117",
        "0.3",
        "1234567.5",
        "0",
        "—",
    ]


def test_usage_by_model_keys_rows_by_provider_and_model() -> None:
    usage = Usage(
        group_by="model",
        since=None,
        until=None,
        rows=[
            UsageRow(
                key="apimall/nano-banana",
                provider="apimall",
                unit="credits",
                attempts=1,
                images=1,
                cost=4,
            )
        ],
    )
    assert routes_cli.usage_table(usage) == (
        ["model", "unit", "attempts", "images", "cost"],
        [["apimall/nano-banana", "credits", "1", "1", "4"]],
    )


def test_attempt_rows_show_each_try_in_order_with_what_came_late() -> None:
    ended = datetime(2026, 12, 1, 8, 1, tzinfo=UTC)
    rows = routes_cli.attempt_rows(
        [
            Tried(2, "apimodels", "gemini-2.5-flash-image", None, "running"),
            Tried(
                1,
                "apimall",
                "nano-banana",
                "img_1",
                "expired",
                late_outcome="completed",
                error_code="expired",
                error_message="no result by the deadline",
                cost=4.0,
                cost_unit="credits",
                ended_at=ended,
            ),
        ]
    )
    assert rows == [
        [
            "1",
            "apimall/nano-banana",
            "img_1",
            "expired, late: completed",
            "expired: no result by the deadline",
            "4 credits",
            "2026-12-01T08:00:00Z",
            "2026-12-01T08:01:00Z",
        ],
        [
            "2",
            "apimodels/gemini-2.5-flash-image",
            "—",
            "running",
            "—",
            "—",
            "2026-12-01T08:00:00Z",
            "—",
        ],
    ]
