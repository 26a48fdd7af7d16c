"""`qa-bot config` and `qa-bot doctor`: what is configured, and what is missing."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from qa_bot.cli.common import app, load_settings, out


@app.command("config")
def show_config() -> None:
    """Print the effective settings, where each came from, and its env var (secrets masked)."""
    from qa_bot.config import known_env_names, setting_origins

    settings = load_settings()
    origins = setting_origins(settings)
    table = Table(title="Effective settings", title_justify="left")
    for column in ("setting", "value", "from", "env var"):
        table.add_column(column)
    values = settings.model_dump(mode="json")
    for name, (section, key) in known_env_names().items():
        shown = repr(values[section][key])  # secrets dump as "**********"
        table.add_row(f"{section}.{key}", escape(shown), escape(origins[(section, key)]), name)
    out.print(table)


@app.command()
def doctor() -> None:
    """Check Python, the browser, the models, the index and the servers; say how to fix each."""
    from qa_bot.doctor import run_checks

    settings = load_settings()
    table = Table(title="qa-bot doctor", title_justify="left")
    for column in ("check", "status", "details / fix"):
        table.add_column(column)
    failed = False
    for check in run_checks(settings):
        status = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]fail[/]"}
        table.add_row(check.name, status[check.status], escape(check.detail))
        failed |= check.status == "fail"
    out.print(table)
    if failed:
        raise typer.Exit(1)
