"""The stats page's SVG charts (pure): geometry follows the numbers, text is escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from receiver.web.dashboard.charts import Bar, Segment, bar_chart, timing_chart

SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(
        str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    )


def widths(svg: ET.Element) -> list[float]:
    return [float(r.attrib["width"]) for r in svg.iter(f"{SVG}rect")]


def test_bars_share_one_scale() -> None:
    svg = parsed(
        bar_chart(
            "t",
            [
                Bar("a", [Segment(10, "ok", "completed"), Segment(10, "bad", "failed")]),
                Bar("b", [Segment(5, "ok", "completed")]),
            ],
        )
    )
    first, second, third = widths(svg)
    assert abs(first - second) < 0.1  # 10 and 10
    assert abs(third - first / 2) < 0.1  # 5 is half of 10
    assert [g.attrib["data-label"] for g in svg.iter(f"{SVG}g")] == ["a", "b"]


def test_normalized_bars_fill_the_width_and_say_shares() -> None:
    svg = parsed(
        bar_chart(
            "t",
            [
                Bar("a", [Segment(1, "ok", "callback"), Segment(3, "busy", "poll")]),
                Bar("b", [Segment(50, "ok", "callback")]),
            ],
            normalize=True,
        )
    )
    a1, a3, b = widths(svg)
    assert abs(a1 + a3 - b) < 0.1
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert titles == ["t", "a: 25% callback", "a: 75% poll", "b: 100% callback"]


def test_empty_segments_are_not_drawn() -> None:
    svg = parsed(bar_chart("t", [Bar("a", [Segment(0, "bad", "failed"), Segment(2, "ok", "x")])]))
    assert len(widths(svg)) == 1


def test_text_is_escaped() -> None:
    markup = bar_chart("<t>", [Bar("<script>alert(1)</script>", [Segment(1, "ok", "&")])])
    assert "<script>" not in markup
    svg = parsed(markup)  # still well-formed XML
    assert svg.attrib["aria-label"] == "<t>"


def test_timing_rows_put_p50_inside_p95() -> None:
    svg = parsed(
        timing_chart("t", [("apimall", 2.0, 8.0), ("apimart", 4.0, 16.0)], lambda s: f"{s}s")
    )
    p95_a, p50_a, p95_b, _ = widths(svg)
    assert p50_a < p95_a < p95_b
    assert abs(p50_a - p95_a / 4) < 0.1 and abs(p95_a - p95_b / 2) < 0.1
    notes = [t.text for t in svg.iter(f"{SVG}text") if t.attrib["class"] == "chart-note"]
    assert notes == ["p50 2.0s · p95 8.0s", "p50 4.0s · p95 16.0s"]


def test_a_long_label_is_cut_with_an_ellipsis() -> None:
    label = "apimodels · nanobanana-2-beta/gemini-3.1-flash-image-preview"
    svg = parsed(bar_chart("t", [Bar(label, [Segment(1, "ok", "x")])]))
    shown = next(t.text for t in svg.iter(f"{SVG}text") if t.attrib["class"] == "chart-label")
    assert shown is not None and shown.endswith("\u2026") and len(shown) < len(label)
    assert next(svg.iter(f"{SVG}g")).attrib["data-label"] == label  # the full one is kept
