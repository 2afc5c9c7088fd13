"""The README documents what the code does."""

from __future__ import annotations

from pathlib import Path

from receiver.providers import docs

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
