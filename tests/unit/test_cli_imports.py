"""The command line imports only what a command needs: ``--help`` and the commands
that talk to a server never load the server (Starlette, SQLAlchemy, uvicorn, the
scheduler, the settings). Checked in a fresh interpreter, on what is really in
``sys.modules``; start-up time itself is measured, not asserted (see the README)."""

from __future__ import annotations

import subprocess
import sys

SERVER_PARTS = ("starlette", "sqlalchemy", "uvicorn", "apscheduler", "pydantic_settings", "alembic")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return {line.split(".")[0] for line in done.stdout.splitlines()}


def test_help_loads_no_server_part() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from receiver.cli.main import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0"
    )
    assert loaded_after(code).isdisjoint(SERVER_PARTS)


def test_a_command_that_talks_to_a_server_loads_no_server_part() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from receiver.cli.main import app\n"
        "import os\n"
        "os.environ['GENHOOK_URL'] = 'http://127.0.0.1:9'\n"
        "result = CliRunner().invoke(app, ['status', 'tsk_x'])\n"
        "assert result.exit_code == 6, result.output\n"
    )
    modules = loaded_after(code)
    assert "httpx" in modules and "receiver" in modules
    assert modules.isdisjoint(SERVER_PARTS)


def test_the_client_loads_no_server_part() -> None:
    # (rich may be there: httpx imports its own command line, which uses it)
    modules = loaded_after("import receiver.client")
    assert modules.isdisjoint({*SERVER_PARTS, "typer"})
