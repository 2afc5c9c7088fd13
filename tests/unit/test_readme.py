"""The README documents what the code does."""

from __future__ import annotations

from pathlib import Path

from receiver import metrics
from receiver.exposition import DATABASE_GAUGES
from receiver.providers import docs
from receiver.settings import HealthSettings, MetricsSettings

README = Path(__file__).parents[2] / "README.md"


def test_provider_reference_matches_the_catalogs() -> None:
    text = README.read_text()
    assert docs.START in text and docs.END in text
    assert docs.replace_block(text) == text, (
        "README provider reference is stale: run `python -m receiver.providers.docs`"
    )


def test_readme_opens_with_the_two_commands() -> None:
    head = README.read_text().splitlines()[:6]
    assert any(line.startswith("scripts/run") for line in head)
    assert any(line.startswith("scripts/test") for line in head)


def test_operations_lists_every_metric_and_setting_of_its_own() -> None:
    text = README.read_text()
    operations = text[text.index("## Operations") : text.index("## Configuration")]
    exposed = [
        family.name + ("_total" if family.type == "counter" else "")
        for metric in metrics.ALL
        for family in metric.describe()
    ]
    for name in [*exposed, *DATABASE_GAUGES]:
        assert f"| `{name}` |" in operations, f"{name} is not in the README's Operations"
    for section, model in (("METRICS", MetricsSettings), ("HEALTH", HealthSettings)):
        for field in model.model_fields:
            assert f"GENHOOK_{section}_{field.upper()}" in text
    for name in ("GENHOOK_LOG_FORMAT", "GENHOOK_LOG_LEVEL", "/healthz", "/readyz"):
        assert name in operations
