"""Field readers for provider JSON: total and bounded, whatever a provider sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from receiver.providers.apimodels import parse_callback
from receiver.providers.fields import epoch, integer, number, optional_text


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value", [deep(1000), float("inf"), "9" * 5000, True, {"a": 1}, "12.5", object()]
)
def test_integer_never_raises_and_says_why(value: Any) -> None:
    errors: list[str] = []
    assert integer(value, "costTime", errors) is None
    assert len(errors) == 1 and errors[0].startswith("costTime: expected a number")
    assert len(errors[0]) < 120


def test_integer_reads_what_it_can() -> None:
    assert integer("42", "x") == 42
    assert integer(1e3, "x") == 1000
    assert integer(2**63, "x") == 2**63  # whether it fits a column is fitting's business


@pytest.mark.parametrize("value", [10**400, "1e999", float("nan"), "x" * 1000, deep(5)])
def test_number_keeps_finite_numbers_only(value: Any) -> None:
    assert number(value) is None


def test_optional_text_of_deep_values_is_none_with_a_reason() -> None:
    errors: list[str] = []
    assert optional_text(deep(300, "x"), "failCode", errors) is None
    assert errors == ["failCode: a list of 1 item too deep or too large to keep"]
    assert optional_text({"code": 5}) == '{"code":5}'
    assert optional_text(500) == "500" and optional_text(1.5) == "1.5"


def test_epoch_out_of_any_range_is_none() -> None:
    errors: list[str] = []
    assert epoch(10**300, "completeTime", errors) is None
    assert epoch(deep(900), "createTime", errors) is None
    assert len(errors) == 2
    assert epoch(1705123465000, "t") == datetime(2024, 1, 13, 5, 24, 25, tzinfo=UTC)


def test_a_callback_with_every_poison_at_once_parses() -> None:
    def nested(depth: int, leaf: str) -> str:  # as text: json.dumps itself recurses
        return "[" * depth + leaf + "]" * depth

    raw = {
        "taskId": nested(300, '"x"'),
        "failCode": nested(400, '"y"'),
        "failMsg": nested(600, '"z"'),
        "costTime": str(2**64 - 1),
        "completeTime": nested(1000, "1"),
        "createTime": json.dumps("1" * 4000),
        "resultJson": json.dumps(nested(2000, "1")),
        "param": json.dumps("{not json"),
    }
    fields = ", ".join(f'"{name}": {text}' for name, text in raw.items())
    body = ('{"code": 200, "data": {"state": "completed", ' + fields + "}}").encode()
    parsed = parse_callback(body, observed_at=datetime.now(UTC))
    snapshot = parsed.snapshot
    assert snapshot.state == "completed"
    assert snapshot.provider_task_id is None and snapshot.error_code is None
    assert snapshot.provider_completed_at is None and snapshot.provider_created_at is None
    assert snapshot.provider_cost_ms == 2**64 - 1  # read; dropped later by fitting
    assert len(parsed.parse_errors) >= 6
