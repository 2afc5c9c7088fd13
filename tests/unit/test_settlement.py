"""receiver.settlement: every unconfirmed create ends, by its provider's rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from receiver.providers.registry import settlement_rules
from receiver.settings import Settings
from receiver.settlement import MAX_RISKY_CREATES, Action, Rule, decide, failure

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEADLINE = NOW + timedelta(minutes=30)
RULES = settlement_rules(Settings(_env_file=None))


def verdict(rule: Rule, *, attempts: int = 1, since: datetime = NOW, now: datetime = NOW):
    return decide(
        rule, create_attempts=attempts, unconfirmed_since=since, deadline=DEADLINE, now=now
    )


def test_each_gateway_by_its_rule() -> None:
    assert verdict(RULES["apimall"]).action is Action.RESUBMIT  # idempotent create
    waiting = verdict(RULES["apimodels"])  # its callback can still confirm it
    assert (waiting.action, waiting.until) == (Action.WAIT, DEADLINE)
    grace = verdict(RULES["apimart"])  # nothing can: failed after the grace
    assert (grace.action, grace.until) == (Action.WAIT, NOW + timedelta(seconds=60))
    after = verdict(RULES["apimart"], now=NOW + timedelta(seconds=60))
    assert after.action is Action.FAIL
    assert "GENHOOK_APIMART_UNCONFIRMED_GRACE_SECONDS" in after.reason


def test_accepting_the_risk_resubmits_once() -> None:
    risky = Settings(_env_file=None, apimart_resubmit_unconfirmed=True)
    rule = settlement_rules(risky)["apimart"]
    assert verdict(rule, attempts=1).action is Action.RESUBMIT
    assert verdict(rule, attempts=MAX_RISKY_CREATES).action is Action.WAIT  # paid twice at most


def test_the_grace_is_a_setting() -> None:
    rule = settlement_rules(Settings(_env_file=None, apimart_unconfirmed_grace_seconds=5))[
        "apimart"
    ]
    assert verdict(rule, now=NOW + timedelta(seconds=5)).action is Action.FAIL


@given(
    idempotent=st.booleans(),
    callbacks=st.booleans(),
    risky=st.booleans(),
    grace=st.floats(min_value=0, max_value=7200),
    attempts=st.integers(min_value=1, max_value=10),
    elapsed=st.floats(min_value=0, max_value=4000),
)
def test_every_unconfirmed_create_is_settled_by_its_deadline(
    idempotent: bool, callbacks: bool, risky: bool, grace: float, attempts: int, elapsed: float
) -> None:
    rule = Rule("gw", idempotent, callbacks, risky, grace)
    now = NOW + timedelta(seconds=elapsed)
    decided = verdict(rule, attempts=attempts, now=now)
    if now >= DEADLINE:
        assert decided.action is Action.FAIL
    if decided.action is Action.RESUBMIT and not idempotent:
        assert risky and attempts < MAX_RISKY_CREATES  # never a third paid create
    if decided.action is Action.WAIT:
        assert decided.until is not None and now < decided.until <= DEADLINE


def test_the_failure_says_what_is_known() -> None:
    rule = RULES["apimart"]
    decided = verdict(rule, now=NOW + timedelta(minutes=5))
    snapshot = failure(rule, decided, "POST /v1/images/generations: HTTP 500", NOW)
    assert (snapshot.state, snapshot.error_code) == ("failed", "create_unconfirmed")
    message = snapshot.error_message or ""
    assert "HTTP 500" in message
    assert "may still have the job, and bill it" in message
    assert "GENHOOK_APIMART_RESUBMIT_UNCONFIRMED=true" in message
