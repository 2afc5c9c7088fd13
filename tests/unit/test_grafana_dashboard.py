"""The Grafana dashboard (docs/grafana/genhook.json) is built on metrics that exist.

Every query names only series genhook exposes (or Prometheus' own ``up``), and every
genhook metric is on the dashboard. ``tests/e2e/test_prometheus.py`` runs each query
through a real Prometheus as well, so a query that does not parse fails there.
"""

from __future__ import annotations

import re

from receiver import metrics
from receiver.exposition import DATABASE_GAUGES, metric_names
from tests.support.grafana import load, queries

GROUPING = re.compile(r"\b(?:by|without)\s*\([^)]*\)")
SERIES = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]")
LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


def series_named(query: str) -> set[str]:
    """The series a PromQL query selects: names followed by a selector or a range (once
    grouping clauses are gone), and the metric of a Grafana ``label_values``."""
    return set(SERIES.findall(GROUPING.sub("", query))) | set(LABEL_VALUES.findall(query))


def test_every_query_names_a_metric_that_exists() -> None:
    exposed = metric_names() | {"up"}
    for query in queries(load()):
        named = series_named(query)
        assert named, f"no metric found in {query!r}"
        assert named <= exposed, f"{query!r} names {named - exposed}, which genhook never exposes"


def test_every_genhook_metric_is_on_the_dashboard() -> None:
    used = set().union(*(series_named(q) for q in queries(load())))
    families = {family.name for metric in metrics.ALL for family in metric.describe()}
    families |= set(DATABASE_GAUGES)
    missing = {f for f in families if not any(name.startswith(f) for name in used)}
    assert missing == set()


def test_the_dashboard_is_importable_as_grafana_expects() -> None:
    document = load()
    assert document["uid"] == "genhook" and document["schemaVersion"] >= 36
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    for panel in document["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"] and all(t["refId"] and t["expr"] for t in panel["targets"])
    assert [i["name"] for i in document["__inputs"]] == ["DS_PROMETHEUS"]


def test_the_name_finder_finds_names() -> None:
    assert series_named('sum by (le) (rate(genhook_x_bucket{job=~"$job"}[5m]))') == {
        "genhook_x_bucket"
    }
    assert series_named("label_values(genhook_tasks, job)") == {"genhook_tasks"}
    assert series_named("max by (provider, status) (a{x='1'}) / b[1m]") == {"a", "b"}
