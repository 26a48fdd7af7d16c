"""`qa-bot ask`: an answer with numbered, verified sources (from a running server if any)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from qa_bot.errors import QaBotError
from qa_bot.records import Answer

if TYPE_CHECKING:
    from qa_bot.server.local import LocalServer

from qa_bot.cli.common import app, load_settings, open_store, out, user_errors


def _print_sources(answer: Answer) -> None:
    """The short answer, the numbered sources (each marked verified or not), then any sentence
    no source supports."""
    if answer.short_answer:
        out.print(f"[bold]Short answer:[/] {escape(answer.short_answer)}", highlight=False)
    if answer.citations:
        out.print("\n[bold]Sources[/]")
    for c in answer.citations:
        page = f", page {c.page}" if c.page else ""
        mark = "[green]✓ verified[/]" if c.verified else "[red]✗ not supported[/]"
        out.print(f"\\[{c.n}] {escape(c.title)} ({escape(c.source)}{page}) {mark}", highlight=False)
        out.print(f"    “{c.quote}”", highlight=False, style="dim", markup=False)
    what = "Withheld, no source supports it" if answer.withheld() else "Unsupported"
    for sentence in answer.unsupported:
        out.print(f"[red]{what}:[/] {escape(sentence)}", highlight=False)


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
    from qa_bot.server.local import find

    settings = load_settings()
    with user_errors():
        server = None if local else find(settings)
        pieces = _served_pieces(server, question, only) if server else None
        if pieces is None:
            from qa_bot.chain import QaChain, check_question

            check_question(question, settings.answer.max_question_chars)
            chain = QaChain(open_store(settings))
            pieces = chain.stream(question, only=only or None)
        if stream and not as_json:
            _print_sources(_stream_answer(pieces))
            return
        answer = next(p for p in pieces if isinstance(p, Answer))
    if as_json:
        print(answer.model_dump_json())
    else:
        out.print(answer.answer, highlight=False, markup=False)
        _print_sources(answer)


def _served_pieces(
    server: LocalServer, question: str, only: list[str] | None
) -> Iterator[str | Answer]:
    """The answer from the running server's /api/chat: text pieces, then the Answer."""
    import httpx

    body = {"question": question, "only": only}
    url = f"{server.url}/api/chat"
    with httpx.stream("POST", url, json=body, headers=server.headers, timeout=None) as reply:
        if reply.status_code != 200:
            raise QaBotError(json.loads(reply.read())["detail"])
        event = ""
        for line in reply.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = line.split(":", 1)[1].strip()
                if event == "token":
                    yield json.loads(data)["text"]
                elif event == "answer":
                    yield Answer.model_validate_json(data)
                elif event == "error":
                    raise QaBotError(json.loads(data)["message"])
