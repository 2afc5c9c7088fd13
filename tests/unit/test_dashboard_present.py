"""What the dashboard tells a person, decided without a browser or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from receiver.web.dashboard import present
from storage.models import Asset, Delivery, OutboxEvent, Snapshot, Task

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def task(**fields: Any) -> Task:
    values: dict[str, Any] = {
        "id": "tsk_01",
        "provider": "apimall",
        "model": "nano-banana",
        "status": "completed",
        "request": {"model": "nano-banana", "prompt": "a fox", "params": {}},
        "result_urls": ["https://cdn.example/0.png", "https://cdn.example/1.png"],
        "created_at": T0,
        "updated_at": T0,
        "submitted_at": T0 + timedelta(seconds=1),
        "terminal_at": T0 + timedelta(seconds=13.5),
        "last_source": "poll",
        "deadline_at": T0 + timedelta(hours=1),
        **fields,
    }
    return Task(**values)


def asset(position: int, status: str = "stored", **fields: Any) -> Asset:
    return Asset(
        task_id="tsk_01",
        position=position,
        source_url=f"https://cdn.example/{position}.png",
        status=status,
        local_path=f"tsk_01/{position}.png" if status == "stored" else None,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=20),
        **fields,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.25, "250 ms"), (12.34, "12.3 s"), (245, "4 min 05 s"), (7380, "2 h 03 min")],
)
def test_durations_read_naturally(seconds: float | None, text: str) -> None:
    assert present.duration_text(seconds) == text


def test_a_row_prefers_our_copy_and_says_how_the_task_finished() -> None:
    row = present.task_row(task(), asset(0))
    assert (row.thumbnail, row.thumbnail_is_local) == ("/assets/tsk_01/0.png", True)
    assert (row.prompt, row.via, row.duration, row.tone) == ("a fox", "poll", "12.5 s", "ok")
    remote = present.task_row(task(), None)
    assert (remote.thumbnail, remote.thumbnail_is_local) == ("https://cdn.example/0.png", False)
    running = present.task_row(task(status="processing", terminal_at=None, result_urls=[]), None)
    assert (running.thumbnail, running.via, running.duration, running.tone) == (
        None,
        None,
        "—",
        "busy",
    )
    adopted = present.task_row(task(request=None), None)
    assert adopted.prompt is None


def test_images_show_our_copy_or_why_there_is_none() -> None:
    shown = present.images(
        task(),
        [
            asset(
                0, width=64, height=48, content_type="image/png", byte_size=2048, sha256="ab" * 32
            ),
            asset(
                1, "refused", error_code="not_an_image", error_message="content type 'text/html'"
            ),
        ],
    )
    assert [(i.src, i.is_local, i.status) for i in shown] == [
        ("/assets/tsk_01/0.png", True, "stored"),
        ("https://cdn.example/1.png", False, "refused"),
    ]
    assert shown[0].facts[:3] == ["64 \u00d7 48", "PNG", "2.0 KiB"]
    assert shown[1].problem == "content type 'text/html'"


def test_the_timeline_is_in_order_with_reports_before_their_events() -> None:
    snapshot = Snapshot(
        provider="apimall",
        source="poll",
        received_at=T0 + timedelta(seconds=13),
        outcome="applied",
        state="success",
    )
    event = OutboxEvent(
        id="evt_1",
        task_id="tsk_01",
        type="task.completed",
        created_at=T0 + timedelta(seconds=13),
        payload={},
    )
    submitted = OutboxEvent(
        id="evt_0", task_id="tsk_01", type="task.submitted", created_at=T0, payload={}
    )
    delivery = Delivery(
        event_id="evt_1",
        subscriber_id="sub_1",
        task_id="tsk_01",
        status="dead",
        attempts=8,
        last_error="HTTP 500",
        created_at=T0 + timedelta(seconds=13),
    )
    moments = present.timeline(
        [snapshot],
        [event, submitted],
        [(delivery, "task.completed")],
        [asset(0, downloaded_at=T0 + timedelta(seconds=14), byte_size=10, width=1, height=1)],
    )
    assert [(m.kind, m.title) for m in moments] == [
        ("event", "task.submitted"),
        ("poll", "poll applied · success"),
        ("event", "task.completed"),
        ("delivery", "task.completed → sub_1: dead"),
        ("image", "image 1 stored"),
    ]
    assert moments[3].tone == "bad"
    problems = present.problems(
        task(error_code="x", error_message="boom", anomalies=["failed reported after completed"]),
        [],
        [(delivery, "task.completed")],
        [asset(1, "failed", error_message="gave up")],
    )
    assert problems == [
        "x: boom",
        "anomaly: failed reported after completed",
        "image 2 failed: gave up",
        "task.completed to sub_1 dead-lettered: HTTP 500",
    ]
