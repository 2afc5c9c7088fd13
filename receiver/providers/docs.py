"""The README's provider reference, rendered from the adapters' catalogs.

The README block between ``<!-- providers:start -->`` and ``<!-- providers:end -->``
is this function's output; ``tests/unit/test_readme.py`` fails when they differ, and
``python -m receiver.providers.docs`` rewrites the block. So the documented models and
parameters are exactly the ones validation enforces.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from receiver.providers.registry import describe_catalogs

START = "<!-- providers:start -->"
END = "<!-- providers:end -->"

_TITLES = {"apimodels": "apimodels.app", "apimall": "API Mall", "apimart": "APIMart"}


def render() -> str:
    lines: list[str] = []
    for name, catalog in describe_catalogs().items():
        delivery = "callbacks, with polling as the fallback" if catalog["callbacks"] else "polled"
        lines += [f"#### {_TITLES.get(name, name)} (`{name}`): {delivery}", ""]
        lines += ["| models | parameters |", "|---|---|"]
        for models, params in _grouped(catalog["models"]):
            rendered = "<br>".join(_param(p) for p in params)
            lines.append(f"| {'<br>'.join(f'`{m}`' for m in models)} | {rendered} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _grouped(models: list[dict[str, Any]]) -> list[tuple[list[str], list[dict[str, Any]]]]:
    """Models with identical parameters share one row."""
    groups: list[tuple[list[str], list[dict[str, Any]]]] = []
    for model in models:
        for names, params in groups:
            if params == model["params"]:
                names.append(model["name"])
                break
        else:
            groups.append(([model["name"]], model["params"]))
    return groups


def _param(param: dict[str, Any]) -> str:
    facts = [param["type"]]
    if param.get("required"):
        facts.append("required")
    if "choices" in param:
        facts.append(" / ".join(str(c) for c in param["choices"]))
    if "minimum" in param or "maximum" in param:
        facts.append(f"{param.get('minimum', '')} to {param.get('maximum', '')}")
    if "max_length" in param:
        facts.append(f"≤ {param['max_length']} chars")
    if "max_items" in param:
        facts.append(f"≤ {param['max_items']} items")
    if "default" in param:
        facts.append(f"default {param['default']}")
    if "note" in param:
        facts.append(param["note"])
    return f"`{param['name']}` ({'; '.join(str(f) for f in facts)})"


def replace_block(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render()}{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(replace_block(path.read_text()))
