"""``GET /stats``: how the last hour, day or week went, with charts, and the live
workers.

The numbers come from :func:`receiver.stats.build_report` over ``storage.stats``'
aggregate reads; :func:`charts_for` turns the report into server-rendered SVG
(:mod:`receiver.web.dashboard.charts`). Every chart has a table with the same
numbers next to it, so the page reads the same without them.
"""

from __future__ import annotations

from markupsafe import Markup
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import clock
from receiver.heartbeat import list_live
from receiver.params import StatsQuery
from receiver.stats import Report, Window, build_report
from receiver.web.dashboard import present
from receiver.web.dashboard.charts import Bar, Segment, bar_chart, timing_chart
from receiver.web.dashboard.pages import render_page
from receiver.web.http import services
from receiver.web.operation import HTML, operation
from storage import stats
from storage.engine import READ_ONLY

OUTCOME_TONES = {"completed": "ok", "failed": "bad", "expired": "expired", "unfinished": "wait"}
SOURCE_TONES = {"callback": "ok", "poll": "busy", "submit": "muted"}
DELIVERY_TONES = {"succeeded": "ok", "pending": "wait", "dead": "bad"}


@operation(
    "Dashboard: stats of the last hour, day or week, with charts; the live workers",
    "dashboard",
    query=StatsQuery,
    ok={200: HTML},
)
async def stats_page(request: Request) -> Response:
    try:
        window = StatsQuery.model_validate(dict(request.query_params)).window
    except ValidationError:  # an edited link shows the default window, not an error
        window = Window.DAY
    runtime = services(request)
    since = clock.utcnow() - window.span
    async with runtime.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        groups = await stats.task_groups(session, since)
        completed = await stats.completed_tasks(session, since)
        delivery_counts = await stats.deliveries_by_status(session, since)
        delivered = await stats.delivered(session, since)
    report = build_report(
        window,
        since,
        groups,
        completed,
        delivery_counts,
        delivered,
        sample_limit=stats.SAMPLE_LIMIT,
    )
    workers = await list_live(runtime.sessions, runtime.settings.health)
    return render_page(
        request,
        "stats.html",
        {
            "report": report,
            "charts": charts_for(report),
            "windows": list(Window),
            "workers": workers,
            "outcome_tones": OUTCOME_TONES,
            "source_tones": SOURCE_TONES,
            "delivery_tones": DELIVERY_TONES,
        },
    )


def charts_for(report: Report) -> dict[str, Markup]:
    """One SVG per section of the page (absent where the window has nothing to show)."""
    charts: dict[str, Markup] = {}
    if report.outcomes:
        charts["outcomes"] = bar_chart(
            "Tasks by outcome, per provider and model",
            [
                Bar(
                    f"{row.provider} · {row.model}",
                    [Segment(row.counts[o], OUTCOME_TONES[o], o) for o in OUTCOME_TONES],
                    note=counted(row.total, "task"),
                )
                for row in report.outcomes
            ],
        )
    if report.timings:
        charts["timings"] = timing_chart(
            "Completion time per provider: p50 inside p95",
            [(t.provider, t.p50, t.p95) for t in report.timings],
            present.duration_text,
        )
    if report.shares:
        charts["shares"] = bar_chart(
            "Finished tasks: learned by callback or by poll",
            [
                Bar(
                    share.provider,
                    [Segment(share.counts[s], SOURCE_TONES[s], s) for s in SOURCE_TONES],
                    note=f"{share.total} finished",
                )
                for share in report.shares
            ],
            normalize=True,
        )
    if report.failures:
        charts["failures"] = bar_chart(
            "Most frequent failure codes",
            [
                Bar(f"{f.provider} · {f.code}", [Segment(f.count, "bad", "tasks")], str(f.count))
                for f in report.failures
            ],
        )
    deliveries = report.deliveries
    if deliveries.total:
        charts["deliveries"] = bar_chart(
            "Webhook deliveries by outcome",
            [
                Bar(
                    "webhooks",
                    [Segment(deliveries.counts[s], DELIVERY_TONES[s], s) for s in DELIVERY_TONES],
                    note=counted(deliveries.total, "delivery", "deliveries"),
                )
            ],
        )
    if deliveries.delivered:
        charts["lag"] = timing_chart(
            "Delivery lag: event committed to subscriber's 2xx, p50 inside p95",
            [("webhooks", deliveries.lag_p50, deliveries.lag_p95)],
            present.duration_text,
        )
    return charts


def counted(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


routes = [Route("/stats", stats_page, methods=["GET"])]
