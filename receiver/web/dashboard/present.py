"""What the dashboard shows, computed from rows. Pure: no I/O, no templates.

The templates only lay things out; every decision a person relies on (which image
to show, how a task finished, how long it took, what went wrong, in which order
things happened) is made here, where it can be unit-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from receiver.assets.schedule import AssetStatus
from receiver.lifecycle import Status
from receiver.views import AttemptRecord
from storage.models import Asset, Delivery, OutboxEvent, Snapshot, Task

TIMES = " \u00d7 "  # the multiplication sign between width and height

TONES = {
    Status.COMPLETED: "ok",
    Status.FAILED: "bad",
    Status.EXPIRED: "bad",
    Status.PROCESSING: "busy",
}


def status_tone(status: str) -> str:
    """A colour family for a status: ok, bad, busy or wait."""
    try:
        return TONES.get(Status(status), "wait")
    except ValueError:
        return "wait"


def prompt_of(task: Task) -> str | None:
    """The prompt we submitted; None for tasks genhook did not submit itself."""
    request = task.request if isinstance(task.request, dict) else {}
    prompt = request.get("prompt")
    return prompt if isinstance(prompt, str) and prompt.strip() else None


def finished_via(task: Task) -> str | None:
    """How a finished task learned its end: ``callback``, ``poll`` or ``submit``."""
    if not Status(task.status).is_terminal:
        return None
    return task.last_source


def seconds_to_finish(task: Task) -> float | None:
    """From our submission (or creation, for adopted tasks) to the terminal state."""
    if task.terminal_at is None:
        return None
    start = task.submitted_at or task.created_at
    return max((task.terminal_at - start).total_seconds(), 0.0)


def duration_text(seconds: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; an em dash for None."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(int(seconds) // 60, 60)
    return f"{hours} h {rest:02d} min"


def ago_text(moment: datetime | None, now: datetime) -> str:
    """``just now``, ``42 s ago``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    if moment is None:
        return "—"
    seconds = (now - moment).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    return f"{seconds // 86400:.0f} d ago"


def size_text(byte_size: int | None) -> str:
    if byte_size is None:
        return "—"
    if byte_size < 1024:
        return f"{byte_size} B"
    if byte_size < 1024 * 1024:
        return f"{byte_size / 1024:.1f} KiB"
    return f"{byte_size / (1024 * 1024):.1f} MiB"


def local_url(asset: Asset) -> str | None:
    """Our copy of an image, as a path on this server."""
    return (
        f"/assets/{asset.local_path}"
        if asset.status == AssetStatus.STORED and asset.local_path
        else None
    )


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One line of the task list."""

    id: str
    status: str
    tone: str
    provider: str
    model: str | None
    prompt: str | None
    via: str | None
    duration: str
    created_at: datetime
    thumbnail: str | None
    thumbnail_is_local: bool
    image_count: int


def task_row(task: Task, first_stored: Asset | None) -> TaskRow:
    """The list line of ``task``; the thumbnail is our copy once there is one,
    else the provider's first image (which may stop working when it expires)."""
    local = local_url(first_stored) if first_stored is not None else None
    remote = task.result_urls[0] if task.result_urls else None
    return TaskRow(
        id=task.id,
        status=task.status,
        tone=status_tone(task.status),
        provider=task.provider,
        model=task.model,
        prompt=prompt_of(task),
        via=finished_via(task),
        duration=duration_text(seconds_to_finish(task)),
        created_at=task.created_at,
        thumbnail=local or remote,
        thumbnail_is_local=local is not None,
        image_count=len(task.result_urls),
    )


@dataclass(frozen=True, slots=True)
class Image:
    """One result image on the detail page."""

    position: int
    src: str
    is_local: bool
    source_url: str
    status: str  # stored | pending | refused | failed | not mirrored
    facts: list[str] = field(default_factory=list)
    problem: str | None = None


def images(task: Task, assets: Sequence[Asset]) -> list[Image]:
    """Every result URL of the task, shown from our copy where we have one."""
    by_position = {a.position: a for a in assets}
    shown = []
    for position, url in enumerate(task.result_urls):
        asset = by_position.get(position)
        if asset is None:
            shown.append(Image(position, url, False, url, "not mirrored"))
            continue
        local = local_url(asset)
        facts = []
        if asset.width and asset.height:
            facts.append(f"{asset.width}{TIMES}{asset.height}")
        if asset.content_type:
            facts.append(asset.content_type.removeprefix("image/").upper())
        if asset.byte_size is not None:
            facts.append(size_text(asset.byte_size))
        if asset.sha256:
            facts.append(f"sha256 {asset.sha256[:12]}…")
        problem = None
        if asset.status in (AssetStatus.REFUSED, AssetStatus.FAILED) or (
            asset.status == AssetStatus.PENDING and asset.error_code
        ):
            problem = asset.error_message or asset.error_code
        shown.append(
            Image(position, local or url, local is not None, url, asset.status, facts, problem)
        )
    return shown


@dataclass(frozen=True, slots=True)
class Moment:
    """One line of a task's timeline."""

    at: datetime
    kind: str  # callback | poll | submit | event | delivery | image
    title: str
    detail: str | None = None
    tone: str = "wait"


def timeline(
    snapshots: Sequence[Snapshot],
    events: Sequence[OutboxEvent],
    deliveries: Sequence[tuple[Delivery, str]],
    assets: Sequence[Asset],
) -> list[Moment]:
    """Everything that happened to a task, oldest first.

    Provider reports (callbacks and polls, with what genhook made of them), the
    events genhook emitted, each webhook delivery's latest state, and each image's
    mirroring outcome. At equal times a cause comes before its effect: a report (or
    a stored image) first, then the event it caused, then that event's deliveries.
    """
    moments: list[Moment] = []
    for snapshot in snapshots:
        state = f" · {snapshot.state}" if snapshot.state else ""
        moments.append(
            Moment(
                snapshot.received_at,
                snapshot.source,
                f"{snapshot.source} {snapshot.outcome}{state}",
                snapshot.detail,
                "bad" if snapshot.outcome in ("quarantined", "anomaly") else "wait",
            )
        )
    for event in events:
        moments.append(Moment(event.created_at, "event", event.type, None, _event_tone(event.type)))
    for delivery, event_type in deliveries:
        moments.append(_delivery_moment(delivery, event_type))
    for asset in assets:
        moment = _asset_moment(asset)
        if moment is not None:
            moments.append(moment)
    order = {"callback": 0, "poll": 0, "submit": 0, "image": 0, "event": 1, "delivery": 2}
    return sorted(moments, key=lambda m: (m.at, order.get(m.kind, 4)))


def _event_tone(event_type: str) -> str:
    if event_type in ("task.completed", "task.assets_ready"):
        return "ok"
    if event_type in ("task.failed", "task.expired", "task.anomaly"):
        return "bad"
    return "wait"


def _delivery_moment(delivery: Delivery, event_type: str) -> Moment:
    attempts = f"{delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"
    if delivery.status == "succeeded":
        code = f" · HTTP {delivery.last_status_code}" if delivery.last_status_code else ""
        return Moment(
            delivery.delivered_at or delivery.created_at,
            "delivery",
            f"{event_type} delivered to {delivery.subscriber_id}",
            f"{attempts}{code}",
            "ok",
        )
    tone = "bad" if delivery.status == "dead" else "wait"
    detail = attempts + (f" · {delivery.last_error}" if delivery.last_error else "")
    return Moment(
        delivery.created_at,
        "delivery",
        f"{event_type} → {delivery.subscriber_id}: {delivery.status}",
        detail,
        tone,
    )


def _asset_moment(asset: Asset) -> Moment | None:
    number = asset.position + 1
    if asset.status == AssetStatus.STORED and asset.downloaded_at is not None:
        return Moment(
            asset.downloaded_at,
            "image",
            f"image {number} stored",
            f"{size_text(asset.byte_size)} · {asset.width}{TIMES}{asset.height}",
            "ok",
        )
    if asset.status in (AssetStatus.REFUSED, AssetStatus.FAILED):
        return Moment(
            asset.updated_at,
            "image",
            f"image {number} {asset.status}",
            asset.error_message,
            "bad",
        )
    return None


def problems(
    task: Task,
    snapshots: Sequence[Snapshot],
    deliveries: Sequence[tuple[Delivery, str]],
    assets: Sequence[Asset],
) -> list[str]:
    """What went wrong, in words, for the errors panel."""
    found: list[str] = []
    if task.error_code or task.error_message:
        found.append(
            f"{task.error_code or 'error'}: {task.error_message}"
            if task.error_message
            else str(task.error_code)
        )
    found.extend(f"anomaly: {a}" for a in task.anomalies)
    for snapshot in snapshots:
        if snapshot.outcome in ("quarantined", "anomaly"):
            found.append(f"{snapshot.source} {snapshot.outcome}: {snapshot.detail or 'no detail'}")
    for asset in assets:
        if asset.status in (AssetStatus.REFUSED, AssetStatus.FAILED):
            found.append(f"image {asset.position + 1} {asset.status}: {asset.error_message}")
    for delivery, event_type in deliveries:
        if delivery.status == "dead":
            found.append(
                f"{event_type} to {delivery.subscriber_id} dead-lettered: {delivery.last_error}"
            )
    return found


def facts(task: Task) -> list[tuple[str, Any]]:
    """Label/value pairs for the detail page's summary."""
    credits = None
    if task.credits_used is not None:
        credits = f"{task.credits_used:g} used"
        if task.credits_refunded:
            credits += f", {task.credits_refunded:g} refunded"
    return [
        ("Task id", task.id),
        ("Provider task id", task.provider_task_id or "—"),
        ("Origin", task.origin),
        ("Created (UTC)", task.created_at),
        ("Finished (UTC)", task.terminal_at),
        ("Time to finish", duration_text(seconds_to_finish(task))),
        ("Finished via", finished_via(task) or "—"),
        ("Credits", credits or "—"),
        ("Provider URLs expire (UTC)", task.result_expires_at),
    ]


ATTEMPT_TONES = {"completed": "ok", "running": "busy"}  # every other end is a failover's cause


@dataclass(frozen=True, slots=True)
class AttemptLine:
    """One row of the task page's attempts card."""

    number: int
    target: str  # provider/model
    provider_task_id: str | None
    outcome: str
    tone: str
    late_outcome: str | None
    error: str | None
    cost: str  # "4 credits", "0.039 USD", an em dash while unknown
    started_at: datetime
    ended_at: datetime | None
    duration: str
    current: bool  # the attempt that decides the task


def cost_text(cost: float | None, unit: str | None) -> str:
    """``16 credits``, ``0.039 USD``: no float noise; an em dash for None."""
    if cost is None:
        return "—"
    text = f"{cost:.6f}".rstrip("0").rstrip(".")
    text = "0" if text in ("", "-0") else text
    return f"{text} {unit}" if unit else text


def attempts(records: Sequence[AttemptRecord], current: int | None) -> list[AttemptLine]:
    """Every provider try of a task, first first; ``current`` (the task's attempt
    number) marks the one whose outcome is the task's. What a provider reported after
    its attempt had ended (``late_outcome``) is shown on that attempt: it never
    changes the task."""
    lines = []
    for record in sorted(records, key=lambda r: r.number):
        outcome = str(record.outcome)
        error = None
        if record.error_code or record.error_message:
            error = (
                f"{record.error_code or 'error'}: {record.error_message}"
                if record.error_message
                else str(record.error_code)
            )
        seconds = (
            max((record.ended_at - record.started_at).total_seconds(), 0.0)
            if record.ended_at is not None
            else None
        )
        lines.append(
            AttemptLine(
                number=record.number,
                target=f"{record.provider}/{record.model}" if record.model else record.provider,
                provider_task_id=record.provider_task_id,
                outcome=outcome,
                tone=ATTEMPT_TONES.get(outcome, "bad"),
                late_outcome=str(record.late_outcome) if record.late_outcome else None,
                error=error,
                cost=cost_text(record.cost, record.cost_unit),
                started_at=record.started_at,
                ended_at=record.ended_at,
                duration=duration_text(seconds),
                current=record.number == current,
            )
        )
    return lines
