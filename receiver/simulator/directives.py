"""Prompt directives: deterministic test hooks written into the prompt itself.

A test or a demo cannot pick which of a thousand tasks the dice will fail, but it can
write ``[sim:fail]`` into one prompt. Directives travel through genhook untouched (they
are just prompt text), so end-to-end tests can steer the provider from the outside.

==========================  ==========================================================
``[sim:fail]``              the task fails (``[sim:fail=reason]`` sets the message)
``[sim:succeed]``           the task completes even when ``failure_rate`` > 0
``[sim:never]``             the task stays ``processing`` forever, no callback
``[sim:duration=2.5]``      this task takes 2.5 simulated seconds (x ``time_factor``)
``[sim:blocked]``           the prompt is refused by "content moderation"
``[sim:drop]``              apimodels only: the callback is never sent
``[sim:answer=NAME:JSON]``  once finished, the task's answers (status, batch, callback)
                            carry field ``NAME`` = ``JSON`` in their task object: how a
                            test makes a provider send a value genhook cannot store
==========================  ==========================================================

Names are case-insensitive. An unknown directive or a bad value is refused with the
gateway's 400, because a typo that silently does nothing would make a test pass for
the wrong reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from receiver.simulator.errors import ApiError, bad_request

_DIRECTIVE = re.compile(r"\[sim:([a-z_]+)(?:=([^\]]*))?\]", re.IGNORECASE)
_FLAGS = ("fail", "succeed", "never", "blocked", "drop")


@dataclass(frozen=True, slots=True)
class Directives:
    """What the prompt asked the simulator to do with this task."""

    fail: bool = False
    fail_message: str | None = None
    succeed: bool = False
    never: bool = False
    duration: float | None = None
    blocked: bool = False
    drop: bool = False
    answers: tuple[tuple[str, Any], ...] = ()

    def finished_answer(self, view: dict[str, Any]) -> dict[str, Any]:
        """``view`` (a finished task's object) with the ``[sim:answer=...]`` fields."""
        return {**view, **dict(self.answers)} if self.answers else view


def parse_directives(prompt: str) -> Directives:
    """Read every ``[sim:...]`` directive in ``prompt``; raise a 400 on a bad one."""
    flags: set[str] = set()
    fail_message: str | None = None
    duration: float | None = None
    answers: list[tuple[str, Any]] = []
    for match in _DIRECTIVE.finditer(prompt):
        name, value = match.group(1).lower(), match.group(2)
        if name == "duration":
            duration = _duration(value)
        elif name == "answer":
            answers.append(_answer(value))
        elif name == "fail":
            flags.add(name)
            if value is not None and value.strip():
                fail_message = value.strip()
        elif name in _FLAGS:
            if value is not None:
                raise _refuse(f"directive [sim:{name}] takes no value")
            flags.add(name)
        else:
            raise _refuse(f"unknown simulator directive [sim:{name}]")
    if {"fail", "succeed"} <= flags:
        raise _refuse("directives [sim:fail] and [sim:succeed] contradict each other")
    return Directives(
        fail="fail" in flags,
        fail_message=fail_message,
        succeed="succeed" in flags,
        never="never" in flags,
        duration=duration,
        blocked="blocked" in flags,
        drop="drop" in flags,
        answers=tuple(answers),
    )


def _answer(value: str | None) -> tuple[str, Any]:
    field, _, raw = (value or "").partition(":")
    if not field.strip() or not raw.strip():
        raise _refuse(f"[sim:answer=NAME:JSON] needs a field name and a value, got {value!r}")
    try:
        return field.strip(), orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _refuse(f"[sim:answer={value}]: the value is not JSON") from None


def _duration(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise _refuse(f"[sim:duration=...] needs a number of seconds >= 0, got {value!r}")
    return seconds


def _refuse(message: str) -> ApiError:
    return bad_request(message, code="invalid_directive")
