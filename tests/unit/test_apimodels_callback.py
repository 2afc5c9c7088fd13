"""Double-parsing apimodels callbacks: every shape ``param``/``resultJson`` arrive in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from receiver.providers.apimodels import parse_callback
from receiver.providers.errors import MalformedCallbackError
from tests.fixtures.apimodels import (
    DOC_CALLBACK,
    DOC_FAILED_CALLBACK,
    DOC_RESULT_URL,
    callback_body,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_documented_callback() -> None:
    parsed = parse_callback(DOC_CALLBACK, observed_at=NOW)
    snap = parsed.snapshot
    assert snap.state == "completed"
    assert snap.provider_task_id == "clxxx..."
    assert snap.result_urls == (DOC_RESULT_URL,)
    assert snap.provider_cost_ms == 12345
    assert snap.provider_created_at == datetime(2024, 1, 13, 5, 24, 10, tzinfo=UTC)
    assert snap.provider_completed_at == datetime(2024, 1, 13, 5, 24, 25, tzinfo=UTC)
    assert parsed.request_params["prompt"].startswith("A futuristic")
    assert parsed.parse_errors == ()


def test_documented_failure() -> None:
    snap = parse_callback(DOC_FAILED_CALLBACK, observed_at=NOW).snapshot
    assert snap.state == "failed"
    assert snap.result_urls == ()
    assert (snap.error_code, snap.error_message) == ("500", "Content policy violation")


@pytest.mark.parametrize(
    ("result_json", "urls"),
    [
        ('{"resultUrls":["a","b"]}', ("a", "b")),
        ({"resultUrls": ["a"]}, ("a",)),  # already an object
        (None, ()),
        ("", ()),
        ('{"resultUrls":[]}', ()),
    ],
)
def test_result_json_shapes(result_json: object, urls: tuple[str, ...]) -> None:
    parsed = parse_callback(callback_body(result_json=result_json), observed_at=NOW)
    assert parsed.snapshot.result_urls == urls
    assert parsed.parse_errors == ()


def test_invalid_result_json_is_kept_raw_and_marked() -> None:
    parsed = parse_callback(callback_body(result_json="{not json"), observed_at=NOW)
    assert parsed.snapshot.state == "completed"
    assert parsed.snapshot.result_urls == ()
    assert any(e.startswith("resultJson: not valid JSON") for e in parsed.parse_errors)


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ('{"prompt":"x"}', {"prompt": "x"}),
        ({"prompt": "x"}, {"prompt": "x"}),
        (None, None),
        ("", None),
        ("{oops", "{oops"),  # raw text kept
    ],
)
def test_param_shapes(param: object, expected: object) -> None:
    parsed = parse_callback(callback_body(param=param), observed_at=NOW)
    assert parsed.request_params == expected
    assert bool(parsed.parse_errors) == (param == "{oops")


@pytest.mark.parametrize(("fail_code", "expected"), [("E42", "E42"), (500, "500"), (None, None)])
def test_fail_code_string_number_or_null(fail_code: object, expected: str | None) -> None:
    body = callback_body(state="failed", result_json=None, fail_code=fail_code, fail_msg="x")
    assert parse_callback(body, observed_at=NOW).snapshot.error_code == expected


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"code":200}', b'{"data":{"taskId":"x"}}', b'{"data":{"state":3}}'],
)
def test_unreadable_bodies_raise_malformed(body: bytes) -> None:
    with pytest.raises(MalformedCallbackError):
        parse_callback(body, observed_at=NOW)
