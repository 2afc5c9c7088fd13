"""``scripts/chaos [SECTION ...] [--postgres URL] [--small]``: the trust figures.

Sections: ``chaos``, ``crash``, ``fuzz``, ``procfile`` (the Procfile's processes,
two of each; default: all four). Each runs real
``genhook serve`` / ``genhook simulate`` processes on loopback, on a fresh SQLite
file or, with ``--postgres``, a fresh PostgreSQL database created next to the URL's
and dropped afterwards. ``--small`` runs the test suite's scale. Exits 1 when any
figure that must be zero is not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from scripts.trust import chaos, crash, fuzz, procfile


class Result(Protocol):
    @property
    def ok(self) -> bool: ...

    def rows(self) -> list[tuple[str, str]]: ...


Runner = Callable[[str, Path, bool], Coroutine[Any, Any, Result]]


async def _chaos(url: str, workdir: Path, small: bool) -> Result:
    return await chaos.run(url, workdir, chaos.SMALL if small else chaos.FULL)


async def _crash(url: str, workdir: Path, small: bool) -> Result:
    return await crash.run(url, workdir, crash.SMALL if small else crash.FULL)


async def _fuzz(url: str, workdir: Path, small: bool) -> Result:
    return await fuzz.run(url, workdir, fuzz.SMALL if small else fuzz.FULL)


async def _procfile(url: str, workdir: Path, small: bool) -> Result:
    return await procfile.run(url, workdir, procfile.SMALL if small else procfile.FULL)


SECTIONS: dict[str, Runner] = {
    "chaos": _chaos,
    "crash": _crash,
    "fuzz": _fuzz,
    "procfile": _procfile,
}


@contextlib.contextmanager
def database(workdir: Path, postgres: str | None) -> Iterator[str]:
    """A fresh, empty database for one section."""
    if postgres is None:
        yield f"sqlite+aiosqlite:///{workdir / 'genhook.db'}"
        return
    name = f"genhook_chaos_{secrets.token_hex(4)}"
    admin = make_url(postgres).set(drivername="postgresql").render_as_string(hide_password=False)

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__)
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], help="default: all")
    parser.add_argument(
        "--postgres", metavar="URL", help="run on PostgreSQL (postgresql+asyncpg://...)"
    )
    parser.add_argument("--small", action="store_true", help="the test suite's scale (quick)")
    args = parser.parse_args()
    console = Console()
    engine = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
    table = Table("section", "measure", "value", title=f"genhook under chaos, on {engine}")
    failed = []
    for name in args.sections or list(SECTIONS):
        console.print(f"running {name}...", style="dim")
        with tempfile.TemporaryDirectory(prefix=f"genhook-{name}-") as tmp:
            workdir = Path(tmp)
            with database(workdir, args.postgres) as url:
                result: Result = asyncio.run(SECTIONS[name](url, workdir, args.small))
            for i, (measure, value) in enumerate(result.rows()):
                table.add_row(name if i == 0 else "", measure, value)
            table.add_section()
            if not result.ok:
                failed.append(name)
                for problem in (
                    getattr(result, "wrong", None)
                    or getattr(result, "lost", None)
                    or getattr(result, "examples_5xx", None)
                    or []
                )[:10]:
                    console.print(f"  {name}: {problem}", style="red")
                for log in workdir.glob("*.log"):
                    for line in log.read_text(errors="replace").splitlines():
                        if "Traceback" in line or " ERROR " in line:
                            console.print(f"  {log.name}: {line[:200]}", style="red")
    console.print(table)
    if failed:
        console.print(f"FAILED: {', '.join(failed)}", style="bold red")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
