"""``genhook simulate``: run the provider simulator from the command line.

``receiver/cli.py`` registers :func:`simulate` as a command; every
:class:`~receiver.simulator.config.SimulatorConfig` knob a person would turn by hand
is a flag here, so a demo of a flaky provider is one command line, e.g.::

    genhook simulate --time-factor 0.2 --callback-drop-rate 0.3 --rate-limit-rate 0.1
"""

from __future__ import annotations

import logging

import typer

GATEWAYS = ("apimodels", "apimall", "apimart")  # receiver.simulator.config.GATEWAYS


def banner(host: str, port: int, api_key: str | None) -> str:
    """One line: where the simulator listens and how to point genhook at it."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    env = " ".join(f"GENHOOK_{name.upper()}_BASE_URL={url}" for name in GATEWAYS)
    key = f"api key {api_key!r}" if api_key else "any API key"
    return f"genhook simulator on {url} ({key}, control at {url}/_sim) - point genhook at it: {env}"


def simulate(
    port: int = typer.Option(8100, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (keep it on loopback)."),
    time_factor: float = typer.Option(
        1.0, help="Multiply every delay by this (0.1 = ten times faster)."
    ),
    api_key: str | None = typer.Option(
        None, help="Bearer token to require; default: accept any non-empty token."
    ),
    seed: int | None = typer.Option(None, help="Seed the fault dice for a repeatable run."),
    task_duration: float = typer.Option(10.0, help="Seconds from submission to result."),
    failure_rate: float = typer.Option(0.0, help="Probability a generation fails (0-1)."),
    callback_drop_rate: float = typer.Option(
        0.0, help="Probability an apimodels callback is never sent (0-1)."
    ),
    callback_duplicates: int = typer.Option(0, help="Extra copies of every apimodels callback."),
    callback_delay: float = typer.Option(
        0.0, help="Seconds between a task ending and its callback."
    ),
    callback_reorder: bool = typer.Option(
        False, help="Send callbacks that are due together in shuffled order."
    ),
    rate_limit_rate: float = typer.Option(
        0.0, help="Probability a provider request gets 429 with Retry-After (0-1)."
    ),
    retry_after: float = typer.Option(1.0, help="Retry-After seconds sent with a 429."),
    server_error_rate: float = typer.Option(
        0.0, help="Probability a provider request gets a 5xx (0-1)."
    ),
    slow_response: float = typer.Option(0.0, help="Seconds added before every provider answer."),
    fault_scope: list[str] = typer.Option(
        [],
        help="Limit 429/5xx/slow faults to a gateway (apimodels, apimall, apimart) or a "
        "path prefix (/v1/tasks/batch); repeatable. Default: all provider endpoints.",
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Run a fake apimodels.app / API Mall / APIMart server with fault injection."""
    import uvicorn

    from receiver import logs
    from receiver.cli.runner import load_settings
    from receiver.simulator.app import create_simulator_app
    from receiver.simulator.config import SimulatorConfig

    try:
        config = SimulatorConfig(
            api_key=api_key,
            time_factor=time_factor,
            seed=seed,
            task_duration=task_duration,
            failure_rate=failure_rate,
            callback_drop_rate=callback_drop_rate,
            callback_duplicates=callback_duplicates,
            callback_delay=callback_delay,
            callback_reorder=callback_reorder,
            rate_limit_rate=rate_limit_rate,
            retry_after=retry_after,
            server_error_rate=server_error_rate,
            slow_response=slow_response,
            fault_scope=tuple(fault_scope),
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise typer.BadParameter(str(exc)) from exc
    log_format = load_settings().log_format  # GENHOOK_LOG_FORMAT, as for the server
    log_config = logs.configure(log_level, log_format)
    if log_format == "json":
        logging.getLogger(__name__).info(banner(host, port, api_key))
    else:
        typer.echo(banner(host, port, api_key))
    uvicorn.run(
        create_simulator_app(config),
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config,
    )
