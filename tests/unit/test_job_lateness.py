"""When a background job counts as late for /readyz (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.heartbeat import JobState, late_jobs

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job(**fields: object) -> JobState:
    return JobState(name="poll", every_seconds=1.0, registered_at=T0, **fields)  # type: ignore[arg-type]


def test_a_job_that_has_not_run_yet_is_judged_from_its_start() -> None:
    assert late_jobs([job()], at(12), grace_seconds=10) == []
    [late] = late_jobs([job()], at(14), grace_seconds=10)
    assert (late.name, late.age_seconds, late.limit_seconds) == ("poll", 14, 13)


def test_a_recent_success_is_on_time() -> None:
    assert late_jobs([job(last_ok_at=at(100))], at(103), grace_seconds=0) == []
    assert len(late_jobs([job(last_ok_at=at(100))], at(103.5), grace_seconds=0)) == 1


def test_a_run_in_progress_counts_from_its_start() -> None:
    running = job(last_ok_at=at(0), started_at=at(100), running=True)
    assert late_jobs([running], at(105), grace_seconds=10) == []
    assert len(late_jobs([running], at(114), grace_seconds=10)) == 1  # stuck for 14 s


def test_a_job_that_keeps_failing_is_late_however_often_it_runs() -> None:
    failing = job(last_ok_at=at(0), started_at=at(99), last_error_at=at(99.1))
    assert len(late_jobs([failing], at(100), grace_seconds=30)) == 1


def test_the_allowance_grows_with_the_interval() -> None:
    slow = JobState(name="reconcile", every_seconds=30, registered_at=T0, last_ok_at=at(0))
    assert late_jobs([slow], at(89), grace_seconds=0) == []
    assert [j.name for j in late_jobs([slow], at(91), grace_seconds=0)] == ["reconcile"]
