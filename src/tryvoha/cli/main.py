"""The `tryvoha` command."""

from __future__ import annotations

import typer

from tryvoha.cli import alerts, audit, cap, db, demo, history, serve, tokens, webhooks

app = typer.Typer(
    help="tryvoha: open, self-hostable nationwide air-raid alerts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(serve.serve)
app.add_typer(tokens.app, name="token")
app.add_typer(cap.app, name="cap")
app.add_typer(webhooks.app, name="webhook")
app.command()(alerts.declare)
app.command()(alerts.clear)
app.command()(alerts.status)
app.command()(alerts.tail)
app.command("import-history")(history.import_history)
app.command()(history.stats)
app.command()(history.episodes)
app.command()(demo.demo)
app.command()(audit.audit)
app.add_typer(db.app, name="db")
app.command("migrate-store")(db.migrate_store)


def main() -> None:
    app()
