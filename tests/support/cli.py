"""The CLI run in the test's own process (typer's ``CliRunner``), pointed at a server.

A process per command costs a second of imports; these tests need the commands'
output and exit codes, which the runner gives without one. ``invoke`` runs the
command in a thread: it is synchronous and talks to a server on the test's loop.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from typer.testing import CliRunner

from receiver.cli.main import app
from tests.support.process import client_env


def cli_runner(monkeypatch: pytest.MonkeyPatch, url: str, token: str) -> CliRunner:
    """A runner whose environment holds no genhook setting but the server's URL and token
    (what a shell elsewhere has), for the rest of the test."""
    for name in list(os.environ):
        if name.startswith("GENHOOK_"):
            monkeypatch.delenv(name)
    for name, value in client_env(url, token).items():
        if name.startswith("GENHOOK_"):
            monkeypatch.setenv(name, value)
    return CliRunner()


async def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    """``genhook ARGS…``: its exit code, stdout and stderr."""
    result = await asyncio.to_thread(runner.invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr
