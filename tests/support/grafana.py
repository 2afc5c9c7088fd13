"""The Grafana dashboard shipped in docs/grafana, and the queries it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "genhook.json"


def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def queries(document: dict[str, Any]) -> list[str]:
    """Every panel query, then every template variable's query."""
    found = [t["expr"] for panel in document["panels"] for t in panel["targets"]]
    found += [v["definition"] for v in document["templating"]["list"]]
    return found
