"""What every command shares: the Typer app, the consoles, user errors as one line, settings,
progress bars, the store, and working through a running server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich import progress as bars
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qa_bot.config import Settings
from qa_bot.errors import QaBotError

if TYPE_CHECKING:  # the heavy modules are imported lazily so that --help stays fast
    from qa_bot.ingest.batch import IngestReport, Progress
    from qa_bot.storage.store import Store

app = typer.Typer(
    help="qa-bot: ask questions about a folder of documents and get answers with citations.\n\n"
    'Typical use: `qa-bot ingest corpus/`, then `qa-bot ask "What did TSMC decide?"` or '
    "`qa-bot serve` for the chat UI. Settings come from QA_BOT_* environment variables or "
    "qa-bot.toml (see README).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings wrap as paragraphs
)
out = Console(emoji=False)  # ":smile:" in a document's title is text, not an emoji
err = Console(stderr=True, emoji=False)


def settings_problem(error: ValidationError) -> str:
    """A settings error as one sentence naming the key."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"Bad setting {where}: {first['msg']} (check qa-bot.toml and QA_BOT_* variables)."


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a user-caused error into one plain line on stderr and exit code 1."""
    try:
        yield
    except QaBotError as error:
        err.print(f"[bold red]Error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    except ValidationError as error:
        err.print(f"[bold red]Error:[/] {escape(settings_problem(error))}", highlight=False)
        raise typer.Exit(1) from None


def load_settings() -> Settings:
    """The settings, or one plain line saying which key is wrong."""
    with user_errors():
        return Settings()
    raise AssertionError("unreachable")  # user_errors exits


def progress_bar(label: str) -> bars.Progress:
    """A progress bar on stderr: label, bar, done/total, elapsed, then the task's text."""
    columns = (
        bars.TextColumn(label),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TimeElapsedColumn(),
        bars.TextColumn("{task.description}"),
    )
    return bars.Progress(*columns, console=err)


def open_store(settings: Settings, any_model: bool = False) -> Store:
    """Load the model and open the index, with a spinner (it takes a few seconds)."""
    from qa_bot.storage.store import Store

    with err.status("Loading the embedding model and the index…"):
        return Store.open(settings, any_model=any_model)


def print_report(report: IngestReport, summary_to: Console = out) -> None:
    """Skipped files, then one summary line of what an ingestion changed."""
    for name, reason in report.failed:
        err.print(f"[yellow]Skipped[/] {escape(name)}: {escape(reason)}.", highlight=False)
    for name, reason in report.cut:
        err.print(f"[yellow]Read in part[/] {escape(name)}: {escape(reason)}.", highlight=False)
    title = f"Ingested {report.source or 'documents'} in {report.seconds:.1f} s"
    summary = Table(title=escape(title), title_justify="left")
    for column in ("added", "updated", "unchanged", "deleted", "failed", "chunks added"):
        summary.add_column(column, justify="right")
    summary.add_row(
        *map(str, (len(report.added), len(report.updated), len(report.unchanged))),
        *map(str, (len(report.deleted), len(report.failed), report.chunks_added)),
    )
    summary_to.print(summary)


def with_progress(
    run: Callable[[Progress], list[IngestReport]], summary_to: Console = out
) -> list[IngestReport]:
    """Run ingestions with a progress bar, then print what each changed."""
    with progress_bar("Ingesting") as bar:
        task = bar.add_task("", total=None)
        reports = run(
            lambda done, total, name: bar.update(
                task, completed=done, total=total, description=escape(name)
            )
        )
    for report in reports:
        print_report(report, summary_to)
    return reports


def ingest_here(store: Store, folders: list[Path], summary_to: Console = out) -> None:
    from qa_bot.ingest import ingest as run_ingest

    with_progress(lambda p: [run_ingest(store, f, p) for f in folders], summary_to)
