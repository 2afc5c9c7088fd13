"""``genhook``: the command line, assembled from one module per group of commands.

Commands that read or change tasks, subscribers and deliveries open the database
directly with the same settings as the server (:func:`receiver.services.open_services`),
so they work whether or not a server is running; on SQLite they migrate the
embedded database first.
"""

from __future__ import annotations

import typer

from receiver.cli import demo, serve, simulate, tasks, watch, workers
from receiver.cli.delivery import deliveries_app, subscribers_app

app = typer.Typer(
    name="genhook",
    help="Callback receiver, poller and webhook relay for image-generation gateways.",
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
app.command()(tasks.tasks)
app.command()(tasks.providers)
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
