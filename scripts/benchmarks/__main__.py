"""``scripts/bench [SECTION ...] [--postgres URL]``: reproduce the README's figures."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from scripts.benchmarks import assets_s3, end_to_end, ingest, poller_claim

SECTIONS = {
    "ingest": ingest.run,
    "e2e": end_to_end.run,
    "sse": end_to_end.run_streams,
    "poller": poller_claim.run,
    "kill-check": ingest.run_kill_check,
    "assets": assets_s3.run,
}
DEFAULT = ("ingest", "e2e", "sse", "poller")


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "sections", nargs="*", choices=[*SECTIONS, []], help=f"default: {' '.join(DEFAULT)}"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on this PostgreSQL database instead of SQLite (its public schema is DROPPED)",
    )
    args = parser.parse_args()
    console = Console()
    engine = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
    table = Table("measure", "value", "", "ratio", title=f"genhook benchmarks on {engine}")
    for name in args.sections or DEFAULT:
        console.print(f"running {name}...", style="dim")
        for row in SECTIONS[name](args.postgres):
            table.add_row(*row)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
