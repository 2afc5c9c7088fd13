"""``genhook``: the command line, assembled from one module per group of commands.

Every command that reads or changes tasks, routes, subscribers or deliveries talks to a
genhook server over HTTP (:mod:`receiver.client`, ``GENHOOK_URL`` and
``GENHOOK_API_TOKEN``), so it works from any shell and any machine. Only
``serve``, ``worker``, ``db``, ``simulate`` and ``demo`` run locally. The command
modules import only typer and rich at the top; what a command needs is imported
when it runs, so ``genhook --help`` starts fast. Exit codes: :mod:`receiver.cli.runner`.
"""

from __future__ import annotations

import typer

from receiver.cli import demo, routes, serve, simulate, tasks, watch, workers
from receiver.cli.delivery import deliveries_app, subscribers_app

app = typer.Typer(
    name="genhook",
    help="Callback receiver, poller and webhook relay for image-generation gateways. "
    "Exit codes: 0 done, 1 refused or failed, 2 bad usage, 3 timed out, 4 download "
    "failed, 5 not found, 6 no server answers, 7 token refused.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(serve.serve)
app.command()(serve.worker)
app.add_typer(serve.db_app, name="db")
app.command()(tasks.submit)
app.command()(tasks.track)
app.command("callback-url")(tasks.callback_url)
app.command()(tasks.status)
app.add_typer(tasks.tasks_app, name="tasks")
app.command()(tasks.providers)
app.command()(routes.routes)
app.command()(routes.usage)
app.command()(watch.watch)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(deliveries_app, name="deliveries")
app.command()(workers.workers)
app.command()(demo.demo)
app.command(help="Run the provider simulator: all three gateways, no keys, no internet.")(
    simulate.simulate
)


def main() -> None:
    app()
