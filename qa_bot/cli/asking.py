"""`qa-bot ask`: an answer with numbered, verified sources (from a running server if any)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import typer
from rich.markup import escape

from qa_bot.cli.backends import backend
from qa_bot.cli.common import app, load_settings, out, user_errors
from qa_bot.errors import QaBotError
from qa_bot.records import Answer


def _print_sources(answer: Answer) -> None:
    """The short answer, the numbered sources (each marked verified or not), then any sentence
    no source supports."""
    if answer.short_answer:
        out.print(f"[bold]Short answer:[/] {escape(answer.short_answer)}", highlight=False)
    if answer.citations:
        out.print("\n[bold]Sources[/]")
    for c in answer.citations:
        page = f", {c.location}" if c.location else ""
        mark = "[green]✓ verified[/]" if c.verified else "[red]✗ not supported[/]"
        out.print(f"\\[{c.n}] {escape(c.title)} ({escape(c.source)}{page}) {mark}", highlight=False)
        out.print(f"    “{c.quote}”", highlight=False, style="dim", markup=False)
        if c.url:
            out.print(f"    {c.url}", highlight=False, markup=False)
    _print_related(answer)
    what = "Withheld, no source supports it" if answer.withheld() else "Unsupported"
    for sentence in answer.unsupported:
        out.print(f"[red]{what}:[/] {escape(sentence)}", highlight=False)


def _print_related(answer: Answer) -> None:
    """A refusal's related passages, unnumbered: where to read on, not an answer."""
    if not answer.related:
        return
    out.print("\nNot found in the documents. Related passages:", highlight=False, markup=False)
    for r in answer.related:
        where = f", {r.location}" if r.location else ""
        out.print(f"- {r.title} ({r.source}{where})", highlight=False, markup=False)
        out.print(f"    “{r.excerpt}”", highlight=False, style="dim", markup=False)
        if r.url:
            out.print(f"    {r.url}", highlight=False, markup=False)


def _stream_answer(pieces: Iterator[str | Answer]) -> Answer:
    """Print the answer as it is written; once checked, print it again if verification
    changed it (citations dropped or re-attributed)."""
    streamed = ""
    for piece in pieces:
        if isinstance(piece, Answer):
            out.print()
            if piece.answer != streamed.strip():
                out.print("\n[bold]Verified answer:[/]")
                out.print(piece.answer, highlight=False, markup=False)
            return piece
        streamed += piece
        out.print(piece, end="", highlight=False, markup=False)
    raise QaBotError("The answer stream ended before the answer was complete: ask again.")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in quotes.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (answer, refused, citations).")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            "--source",
            help="Answer only from this document, folder or glob (as `qa-bot ingest` names "
            "them); repeat to allow several.",
        ),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is written.")
    ] = False,
    local: Annotated[
        bool,
        typer.Option("--local", help="Answer in this process even when a server is running."),
    ] = False,
) -> None:
    """Answer a question from the indexed documents, with numbered, verified sources. When a
    qa-bot server runs on this index, it answers (no model to load here)."""
    with user_errors():
        pieces = backend(load_settings(), local=local).stream(question, only)
        if stream and not as_json:
            _print_sources(_stream_answer(pieces))
            return
        answer = next(p for p in pieces if isinstance(p, Answer))
    if as_json:
        print(answer.model_dump_json())
    else:
        out.print(answer.answer, highlight=False, markup=False)
        _print_sources(answer)
