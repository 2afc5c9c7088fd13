"""The task page's attempts card and route tag: what each attempt line says
(``present.attempts``), and the template showing them (escaped) only when the task
has attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from receiver.web.dashboard import present
from receiver.web.dashboard.pages import templates
from tests.support.attempts import Tried
from tests.unit.test_dashboard_present import T0, task

FAILED_OVER = [
    Tried(
        2,
        "apimodels",
        "gemini-2.5-flash-image",
        "am_2",
        "completed",
        cost=0.039,
        cost_unit="USD",
        started_at=T0 + timedelta(seconds=30),
        ended_at=T0 + timedelta(seconds=42.5),
    ),
    Tried(
        1,
        "apimall",
        "nano-banana",
        "img_1",
        "failed",
        late_outcome="completed",
        error_code="server_error",
        error_message="HTTP 502 after 4 tries",
        cost=0.0,
        cost_unit="credits",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=30),
    ),
]


def test_attempts_are_listed_first_first_and_the_current_one_is_marked() -> None:
    first, second = present.attempts(FAILED_OVER, current=2)
    assert (first.number, first.target, first.outcome, first.tone) == (
        1,
        "apimall/nano-banana",
        "failed",
        "bad",
    )
    assert first.late_outcome == "completed"  # reported late: shown, never the task's
    assert first.error == "server_error: HTTP 502 after 4 tries"
    assert (first.cost, first.duration, first.current) == ("0 credits", "30.0 s", False)
    assert (second.target, second.tone, second.cost, second.current) == (
        "apimodels/gemini-2.5-flash-image",
        "ok",
        "0.039 USD",
        True,
    )


def test_a_running_attempt_has_no_end_cost_or_error_yet() -> None:
    (line,) = present.attempts([Tried(1, "apimall", None, None, "running")], current=1)
    assert (line.target, line.tone, line.error, line.cost, line.duration) == (
        "apimall",
        "busy",
        None,
        "—",
        "—",
    )
    assert present.cost_text(16.0, None) == "16"
    assert present.cost_text(0.1 + 0.2, "USD") == "0.3 USD"


def render(**context: Any) -> str:
    values: dict[str, Any] = {
        "task": task(),
        "tone": "ok",
        "prompt": "a fox",
        "facts": [],
        "images": [],
        "timeline": [],
        "problems": [],
        "last_event_id": None,
        "now": T0,
        "ago": present.ago_text,
        **context,
    }
    return templates.env.get_template("task.html").render(values)


def test_the_card_and_route_tag_appear_only_for_routed_tasks_with_attempts() -> None:
    plain = render()
    assert "Attempts" not in plain and "data-route" not in plain
    page = render(route="nano-banana", attempts=present.attempts(FAILED_OVER, current=2))
    assert 'data-route="nano-banana"' in page and "route nano-banana" in page
    assert page.count("<tr data-attempt=") == 2
    assert '<tr data-attempt="2" data-current="true">' in page
    assert "img_1" in page and "0.039 USD" in page and "HTTP 502 after 4 tries" in page
    assert page.index('data-attempt="1"') < page.index('data-attempt="2"')


def test_provider_text_on_the_card_is_escaped() -> None:
    hostile = Tried(1, "apimall", "nano-banana", None, "failed", error_message="<script>x</script>")
    page = render(attempts=present.attempts([hostile], current=1), route="<b>r</b>")
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "<b>r</b>" not in page
