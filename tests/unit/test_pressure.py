"""Provider pressure: Retry-After for the whole provider, and the circuit breaker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.pressure import CircuitState, ProviderPressure

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_retry_after_blocks_the_provider_not_others() -> None:
    pressure = ProviderPressure()
    pressure.record_rate_limit("apimall", 30, T0)
    assert not pressure.gate("apimall", at(29)).allowed
    assert pressure.gate("apimall", at(29)).wait_until == at(30)
    assert pressure.gate("apimart", at(1)).allowed
    assert pressure.gate("apimall", at(30)).allowed


def test_retry_after_is_clamped() -> None:
    pressure = ProviderPressure(max_retry_after=60)
    pressure.record_rate_limit("apimall", 10_000, T0)
    assert pressure.gate("apimall", T0).wait_until == at(60)


def test_circuit_opens_after_consecutive_failures_and_probes_before_closing() -> None:
    pressure = ProviderPressure(failures_to_open=3, base_cooldown=10, max_cooldown=100)
    for i in range(2):
        pressure.record_failure("apimart", at(i))
        assert pressure.gate("apimart", at(i)).allowed
    pressure.record_failure("apimart", at(2))
    assert pressure.state("apimart", at(3)) is CircuitState.OPEN
    assert not pressure.gate("apimart", at(11)).allowed

    probe = pressure.gate("apimart", at(12))
    assert probe.allowed and probe.probe_only
    assert not pressure.gate("apimart", at(12)).allowed  # one probe at a time

    pressure.record_failure("apimart", at(13))  # probe failed: reopen, cooldown doubles
    assert pressure.gate("apimart", at(32)).allowed is False
    assert pressure.gate("apimart", at(34)).probe_only

    pressure.record_success("apimart")
    assert pressure.state("apimart", at(34)) is CircuitState.CLOSED
    assert pressure.gate("apimart", at(34)) == pressure.gate("apimall", at(34))


def test_cooldown_is_capped() -> None:
    pressure = ProviderPressure(failures_to_open=1, base_cooldown=10, max_cooldown=25)
    now = T0
    for _ in range(6):
        pressure.record_failure("x", now)
        gate = pressure.gate("x", now)
        assert gate.wait_until is not None and gate.wait_until - now <= timedelta(seconds=25)
        now = gate.wait_until
        assert pressure.gate("x", now).probe_only
