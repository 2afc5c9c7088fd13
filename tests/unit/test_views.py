"""The hand-built task document is exactly the ``Task`` resource, for any row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from receiver import resources
from receiver.lifecycle import Source, Status
from receiver.views import TASK_COLUMNS, task_document

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
text = st.text(max_size=20)
maybe = st.none() | text


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    created = draw(moments)
    return {
        "id": "tsk_" + draw(st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26)),
        "provider": draw(st.sampled_from(["apimodels", "apimall", "apimart"])),
        "provider_task_id": draw(maybe),
        "origin": draw(st.sampled_from(["submit", "track", "receiver"])),
        "model": draw(maybe),
        "request": draw(st.none() | st.dictionaries(text, st.integers() | text, max_size=3)),
        "status": draw(st.sampled_from(list(Status))).value,
        "result_urls": draw(st.lists(text, max_size=3)),
        "error_code": draw(maybe),
        "error_message": draw(maybe),
        "credits_used": draw(st.none() | st.floats(0, 1e6)),
        "credits_refunded": draw(st.none() | st.floats(0, 1e6)),
        "remaining_credits": draw(st.none() | st.floats(0, 1e6)),
        "anomalies": draw(st.lists(text, max_size=2)),
        "created_at": created,
        "updated_at": created + timedelta(seconds=draw(st.integers(0, 10_000))),
        "submitted_at": draw(st.none() | moments),
        "terminal_at": draw(st.none() | moments),
        "provider_created_at": draw(st.none() | moments),
        "provider_completed_at": draw(st.none() | moments),
        "provider_cost_ms": draw(st.none() | st.integers(0, 10**9)),
        "result_expires_at": draw(st.none() | moments),
        "last_source": draw(st.none() | st.sampled_from(list(Source))),
        "asset_urls": draw(st.none() | st.lists(text, max_size=2)),
        "deadline_at": created + timedelta(minutes=30),
        "next_poll_at": draw(st.none() | moments),
        "poll_attempts": 0,
        "create_attempts": draw(st.integers(0, 3)),
        "lease_holder": None,
        "lease_expires_at": None,
        "idempotency_key": draw(maybe),
        "request_fingerprint": draw(maybe),
        "route": draw(st.none() | st.sampled_from(["nano-banana", "nano-banana-pro"])),
        "route_plan": None,
        "attempt": draw(st.integers(1, 3)),
        "reroute_at": draw(st.none() | moments),
    }


@given(rows())
def test_the_document_is_the_resource(row: dict[str, Any]) -> None:
    assert set(row) == set(TASK_COLUMNS)
    document = task_document(row)
    assert resources.Task.model_validate(document).model_dump(mode="json") == document
