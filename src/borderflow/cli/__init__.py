"""The `borderflow` command."""

from __future__ import annotations

import typer

from borderflow.accounts.cli import users_app
from borderflow.cli.context import console, fail
from borderflow.config import get_settings
from borderflow.db import upgrade
from borderflow.network.cli import calendar_app, capacity, network_app

app = typer.Typer(
    help="borderflow: keeps freight moving across land border gates.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

app.add_typer(network_app, name="network")
app.add_typer(calendar_app, name="calendar")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.command("capacity")(capacity)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (stateless; share the DB)."),
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs). Migrates the database first."""
    import uvicorn

    upgrade(get_settings().resolved_database_url())
    uvicorn.run("borderflow.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=False)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Option("head", help="Target revision.")) -> None:
    """Create or migrate the database (SQLite file by default, or $BORDERFLOW_DATABASE_URL)."""
    url = get_settings().resolved_database_url()
    try:
        upgrade(url, revision)
    except Exception as exc:  # surface the driver's message without a traceback
        raise fail(f"cannot upgrade {url.split('@')[-1]}: {exc}") from exc
    console.print(f"[green]database at {revision}[/]: {url.split('@')[-1]}")


def main() -> None:
    app()
