"""`qa-bot questions`: the question log (admins), and questions exported as eval cases."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qa_bot.cli.backends import backend
from qa_bot.cli.common import app, load_settings, out, user_errors
from qa_bot.errors import QaBotError

if TYPE_CHECKING:
    from qa_bot.storage.questions import QuestionFilter

questions_app = typer.Typer(
    help="The question log (docs/question-log.md): what was asked through the server, and "
    "questions exported as eval cases."
)
app.add_typer(questions_app, name="questions")

Refused = Annotated[bool, typer.Option("--refused", help="Only questions the bot refused.")]
Down = Annotated[bool, typer.Option("--down", help="Only answers given a thumbs down.")]
Since = Annotated[
    str | None, typer.Option(help="Only questions since a date (2025-01-31) or an age (7d, 12h).")
]
Source = Annotated[
    str | None, typer.Option(help="Only answers citing this document, or one in this folder.")
]
Limit = Annotated[int, typer.Option(help="At most this many, newest first (up to 1000).")]


def _filter(
    refused: bool, down: bool, since: str | None, source: str | None, limit: int
) -> QuestionFilter:
    from qa_bot.storage.questions import QuestionFilter

    return QuestionFilter.chosen(refused, down, since, source, limit)


@questions_app.command("list")
def questions_list(
    refused: Refused = False,
    down: Down = False,
    since: Since = None,
    source: Source = None,
    limit: Limit = 100,
) -> None:
    """The logged questions, newest first: when, who, the question, refused, rating, what the
    answer cited, milliseconds, id."""
    with user_errors():
        found = backend(load_settings()).questions(_filter(refused, down, since, source, limit))
    table = Table(title=f"Questions ({len(found)})", title_justify="left")
    for column in ("asked (UTC)", "by", "question", "refused", "rating", "cites", "ms", "id"):
        table.add_column(column)
    for q in found:
        when, said = q.created[:19].replace("T", " "), "yes" if q.refused else ""
        row = (when, q.asker, q.question, said, q.rating or "", ", ".join(q.sources))
        table.add_row(*map(escape, row), f"{q.latency_ms:.0f}", q.id)
    out.print(table)


@questions_app.command("export")
def questions_export(
    refused: Refused = False,
    down: Down = False,
    since: Since = None,
    source: Source = None,
    limit: Limit = 100,
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", help="Export this question (repeat for several) instead of filters."),
    ] = None,
    expected: Annotated[
        str | None,
        typer.Option(
            help="The answer the exported questions should get: answerable cases with it as "
            "the reference. Without it, refused questions become unanswerable cases (an "
            "answered question needs it)."
        ),
    ] = None,
) -> None:
    """Print logged questions as eval cases, one JSON object a line (the format of
    `evals/datasets/*.jsonl`): `qa-bot questions export --refused --since 7d > cases.jsonl`."""
    with user_errors():
        chosen = backend(load_settings())
        if not ids:
            wanted = _filter(refused, down, since, source, limit)
            ids = [q.id for q in chosen.questions(wanted)]
        if not ids:
            raise QaBotError("No logged question matches these filters: nothing to export.")
        text = chosen.export([(question_id, expected) for question_id in ids])
    sys.stdout.write(text)
