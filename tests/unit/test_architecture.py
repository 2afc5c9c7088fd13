"""The boundaries of ARCHITECTURE.md, computed from the source.

The import graph of ``receiver`` and ``storage`` is read with ``ast`` (type-only
imports and imports inside functions included) and must have no cycle; ``storage``
imports nothing from ``receiver``; only ``receiver.web`` (and the simulator, a server
of its own) imports Starlette, only ``receiver.cli`` typer and rich; providers know
no storage, and the pure domain modules no I/O.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = ("receiver", "storage")

PURE = (
    "receiver.lifecycle",
    "receiver.fitting",
    "receiver.cadence",
    "receiver.pressure",
    "receiver.delivery.schedule",
    "receiver.assets.schedule",
    "receiver.assets.imageinfo",
    "receiver.assets.location",
    "receiver.providers.retry",
    "receiver.resources",
    "receiver.params",
    "receiver.stats",
    "receiver.web.dashboard.charts",
    "receiver.routes.catalog",
    "receiver.routes.mapping",
    "receiver.routes.failover",
    "receiver.routes.costs",
    "receiver.attempt_rows",
)
IO_LIBRARIES = ("sqlalchemy", "sqlmodel", "httpx", "starlette", "asyncpg", "aiosqlite", "storage")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imported(name: str) -> Iterator[str]:
    """Every module ``name`` imports, as written (absolute), anywhere in its source."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # `from receiver import clock` imports a module
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in modules() else base


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {target for target in imported(name) if target in known and target != name}
        for name in known
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def importers_of(prefix: str) -> set[str]:
    return {
        name
        for name in modules()
        if any(t == prefix or t.startswith(prefix + ".") for t in imported(name))
    }


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere() -> None:
    assert cycles(graph()) == []


def test_storage_imports_nothing_from_receiver() -> None:
    assert {n for n in importers_of("receiver") if n.startswith("storage")} == set()


def test_only_web_and_the_simulator_import_starlette() -> None:
    for library in ("starlette", "sse_starlette"):
        outside = {
            n
            for n in importers_of(library)
            if not n.startswith(("receiver.web", "receiver.simulator"))
        }
        assert outside == set(), f"{library} imported outside receiver.web: {outside}"


def test_only_the_cli_imports_typer_and_rich() -> None:
    for library in ("typer", "rich"):
        outside = {n for n in importers_of(library) if not n.startswith("receiver.cli")}
        assert outside == set(), f"{library} imported outside receiver.cli: {outside}"


def test_providers_know_no_storage_and_no_web() -> None:
    providers = {n for n in modules() if n.startswith("receiver.providers")}
    for name in providers:
        targets = set(imported(name))
        assert not {t for t in targets if t.startswith(("storage", "receiver.web", "sqlalchemy"))}


def test_the_simulator_depends_on_nothing_else_in_receiver() -> None:
    for name in (n for n in modules() if n.startswith("receiver.simulator")):
        foreign = {
            t
            for t in imported(name)
            if t.startswith("receiver")
            and not t.startswith("receiver.simulator")
            and t not in ("receiver", "receiver.clock", "receiver.errors")
        }
        assert foreign == set(), f"{name} imports {foreign}"


def test_pure_modules_do_no_io() -> None:
    for name in PURE:
        io = {t for t in imported(name) if t.split(".")[0] in IO_LIBRARIES}
        assert io == set(), f"{name} imports {io}"


def test_only_the_web_layer_reads_the_app_state() -> None:
    readers = {name for name, path in modules().items() if "app.state.services" in path.read_text()}
    assert readers == {"receiver.web.http", "receiver.web.application"}


def reachable_from(start: str) -> set[str]:
    """Every module of ours that ``start`` imports, directly or not."""
    edges = graph()
    seen = {start}
    pending = [start]
    while pending:
        for target in edges[pending.pop()]:
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def test_the_client_is_cheap_to_import() -> None:
    """``receiver.client`` (and the CLI on it) reaches no server part: no Starlette,
    SQLAlchemy, typer or rich anywhere in what it imports."""
    heavy = ("starlette", "sse_starlette", "sqlalchemy", "sqlmodel", "typer", "rich", "uvicorn")
    for name in sorted(reachable_from("receiver.client")):
        assert not name.startswith(("storage", "receiver.web", "receiver.cli.")), name
        libraries = {t.split(".")[0] for t in imported(name)}
        assert not libraries & set(heavy), f"{name} imports {libraries & set(heavy)}"
