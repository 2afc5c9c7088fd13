"""receiver.fitting: whatever arrives, what leaves fits every column and encoder.

Property tests over JSON that includes what real parsers hand over (pydantic: any
integer, NaN, infinities; orjson: up to 1,024 levels) and what they never do
(tuples, objects), plus the documents that used to take genhook down.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver import fitting
from receiver.lifecycle import Source, TaskSnapshot

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet="\x00ab", max_size=5),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=40,
)


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@given(documents)
@settings(max_examples=300)
def test_a_fitted_document_has_no_problem_left_and_encodes(document: Any) -> None:
    fitted, _ = fitting.fit_json(document)
    assert fitting.json_problems(fitted) == []
    assert orjson.loads(orjson.dumps(fitted)) == fitted
    assert "\x00" not in orjson.dumps(fitted).decode("unicode_escape", errors="ignore")


@given(documents)
@settings(max_examples=300)
def test_a_document_without_problems_is_left_as_it_is(document: Any) -> None:
    if fitting.json_problems(document) == []:
        assert fitting.fit_json(document) == (document, [])
        assert fitting.dumps(document) == orjson.dumps(document)


@given(documents)
def test_dumps_never_raises(document: Any) -> None:
    assert isinstance(fitting.dumps(document), bytes)


def test_what_used_to_break_is_named_with_its_place() -> None:
    document = {"params": {"n": 10**20, "x": math.nan, "tags": ["a", "b\x00"]}}
    assert fitting.json_problems(document) == ["params.n: 100000000000000000000 is beyond 64 bits"]
    fitted, problems = fitting.fit_json(document)
    assert fitted == {"params": {"n": "100000000000000000000", "x": None, "tags": ["a", "b"]}}
    assert problems == [
        "params.n: 100000000000000000000 is beyond 64 bits",
        "params.x: nan is not a finite number",
        "params.tags[1]: a NUL character",
    ]


def test_keys_keep_their_order() -> None:
    document = {"z": 1, "a": {"y": 2, "b": 3}, "m": [{"q": 1, "c": 2}]}
    fitted, _ = fitting.fit_json({**document, "big": 2**70})
    assert list(fitted) == ["z", "a", "m", "big"]
    assert list(fitted["a"]) == ["y", "b"] and list(fitted["m"][0]) == ["q", "c"]


@pytest.mark.parametrize("depth", [fitting.MAX_JSON_DEPTH + 1, 300, 5000])
def test_nesting_is_bounded_without_recursion(depth: int) -> None:
    document = deep(depth)
    [problem] = fitting.json_problems(document)
    assert "nested deeper than" in problem
    fitted, _ = fitting.fit_json(document)
    assert fitting.json_problems(fitted) == []
    assert fitting.dumps(document)  # orjson alone gives up at 255 levels
    assert fitting.compact_text(document) is None
    assert fitting.describe(document) == "a list of 1 item"


def test_size_is_bounded() -> None:
    document = list(range(fitting.MAX_JSON_VALUES + 10))
    assert fitting.json_problems(document) == [
        f"[{fitting.MAX_JSON_VALUES - 1}]: past the first {fitting.MAX_JSON_VALUES} values"
    ]


def test_describe_is_short_whatever_the_value() -> None:
    for value in ("x" * 10_000, 10**5000, deep(10_000), {str(i): i for i in range(1000)}, 1e300):
        assert len(fitting.describe(value)) <= fitting.PREVIEW_LENGTH + 10


def snapshot(**fields: Any) -> TaskSnapshot:
    return TaskSnapshot(state="completed", source=Source.CALLBACK, **fields)


def test_a_snapshot_that_fits_is_returned_untouched() -> None:
    given_snapshot = snapshot(provider_task_id="p1", provider_cost_ms=1234, credits_used=2.5)
    assert fitting.fit_snapshot(given_snapshot) == (given_snapshot, [])
    assert fitting.fit_snapshot(given_snapshot)[0] is given_snapshot


@pytest.mark.parametrize(
    ("fields", "field", "expected"),
    [
        ({"provider_cost_ms": 2**63}, "provider_cost_ms", None),
        ({"provider_cost_ms": 2**31}, "provider_cost_ms", None),  # PostgreSQL INTEGER
        ({"provider_cost_ms": -(2**31)}, "provider_cost_ms", -(2**31)),
        ({"credits_used": math.inf}, "credits_used", None),
        ({"remaining_credits": math.nan}, "remaining_credits", None),
        ({"provider_task_id": "t" * 201}, "provider_task_id", None),  # cut, it names another
        ({"provider_task_id": "a\x00b"}, "provider_task_id", "ab"),
        ({"error_message": "m" * 5000}, "error_message", "m" * 3999 + "…"),
        ({"result_urls": ("u" * 9000, "https://ok")}, "result_urls", ("https://ok",)),
        (
            {"result_urls": tuple(f"u{i}" for i in range(150))},
            "result_urls",
            tuple(f"u{i}" for i in range(100)),
        ),
    ],
)
def test_fields_that_do_not_fit_are_dropped_or_cut_and_said(
    fields: dict[str, Any], field: str, expected: Any
) -> None:
    fitted, problems = fitting.fit_snapshot(snapshot(**fields))
    assert getattr(fitted, field) == expected
    if "\x00" not in str(fields[field]) and expected != fields[field]:
        assert problems and problems[0].startswith(field)


def test_times_without_a_utc_equivalent_are_dropped() -> None:
    far_east = timezone(timedelta(hours=14))
    edge = datetime(1, 1, 1, 0, 0, tzinfo=far_east)  # 0000-12-31 in UTC does not exist
    fitted, problems = fitting.fit_snapshot(
        snapshot(provider_created_at=edge, provider_completed_at=datetime(2026, 1, 1, tzinfo=UTC))
    )
    assert fitted.provider_created_at is None
    assert fitted.provider_completed_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert problems == [f"provider_created_at: {edge.isoformat()} has no UTC equivalent; dropped"]


def test_notes_are_bounded() -> None:
    notes = fitting.fit_notes(["x" * 10_000] * 100)
    assert len(notes) == fitting.MAX_PARSE_ERRORS + 1
    assert all(len(n) <= fitting.PARSE_ERROR_LENGTH for n in notes)
