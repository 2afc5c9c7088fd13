"""The normalized JSON shape of a task: what the API, the CLI and events all show.

One function, so a webhook payload, ``GET /api/tasks/{id}`` and ``genhook status``
can never disagree about what a task looks like.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.models import Asset, OutboxEvent, Snapshot, Task


def iso(value: datetime | None) -> str | None:
    """RFC 3339 with a ``Z``, or None."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "provider": task.provider,
        "provider_task_id": task.provider_task_id,
        "origin": task.origin,
        "model": task.model,
        "status": task.status,
        "result_urls": list(task.result_urls),
        # genhook's own copies (receiver.assets.mirror), in the same order; empty until all
        # result images are stored, then set together with task.assets_ready.
        "asset_urls": list(task.asset_urls or []),
        "error": (
            {"code": task.error_code, "message": task.error_message}
            if task.error_code or task.error_message
            else None
        ),
        "credits": {
            "used": task.credits_used,
            "refunded": task.credits_refunded,
            "remaining": task.remaining_credits,
        },
        "anomalies": list(task.anomalies),
        "last_source": task.last_source,
        "request": task.request,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "submitted_at": iso(task.submitted_at),
        "terminal_at": iso(task.terminal_at),
        "deadline_at": iso(task.deadline_at),
        "provider_timing": {
            "created_at": iso(task.provider_created_at),
            "completed_at": iso(task.provider_completed_at),
            "cost_ms": task.provider_cost_ms,
        },
        "result_expires_at": iso(task.result_expires_at),
    }


def snapshot_view(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "source": snapshot.source,
        "received_at": iso(snapshot.received_at),
        "outcome": snapshot.outcome,
        "state": snapshot.state,
        "provider_task_id": snapshot.provider_task_id,
        "parse_errors": list(snapshot.parse_errors),
        "detail": snapshot.detail,
        "body": snapshot.body.decode("utf-8", errors="replace") if snapshot.body else None,
    }


def event_view(event: OutboxEvent) -> dict[str, Any]:
    return event.payload


def asset_view(asset: Asset, base_url: str) -> dict[str, Any]:
    """One result image: where it came from, what mirroring it came to, our copy."""
    return {
        "position": asset.position,
        "status": asset.status,
        "source_url": asset.source_url,
        "url": f"{base_url}/assets/{asset.local_path}" if asset.local_path else None,
        "local_path": asset.local_path,
        "content_type": asset.content_type,
        "byte_size": asset.byte_size,
        "sha256": asset.sha256,
        "width": asset.width,
        "height": asset.height,
        "downloaded_at": iso(asset.downloaded_at),
        "attempts": asset.attempts,
        "next_attempt_at": iso(asset.next_attempt_at),
        "error": (
            {"code": asset.error_code, "message": asset.error_message} if asset.error_code else None
        ),
    }
