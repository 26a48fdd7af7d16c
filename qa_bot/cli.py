"""The ``qa-bot`` command line: ingest documents, ask questions, serve the chat UI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.models import Answer

if TYPE_CHECKING:  # the heavy modules are imported lazily so that --help stays fast
    from qa_bot.store import Store

app = typer.Typer(
    help="qa-bot: ask questions about a folder of documents and get answers with citations.\n\n"
    'Typical use: `qa-bot ingest corpus/`, then `qa-bot ask "What did TSMC decide?"` or '
    "`qa-bot serve` for the chat UI. Settings come from QA_BOT_* environment variables or "
    "qa-bot.toml (see README).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a user-caused error into one plain line on stderr and exit code 1."""
    try:
        yield
    except QaBotError as error:
        err.print(f"[bold red]Error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None


def _open_store(settings: Settings) -> Store:
    """Load the model and open the index, with a spinner (it takes a few seconds)."""
    from qa_bot.store import Store

    with err.status("Loading the embedding model and the index…"):
        return Store.open(settings)


def _ingest_with_progress(store: Store, folder: Path, summary_to: Console = out) -> None:
    """Ingest ``folder`` with a progress bar, then print skipped files and a summary."""
    from qa_bot.ingest import ingest as run_ingest

    columns = (TextColumn("Ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.description}"), console=err) as bar:
        task = bar.add_task("", total=None)
        report = run_ingest(
            store,
            folder,
            lambda done, total, source: bar.update(
                task, completed=done, total=total, description=source
            ),
        )
    for source, reason in report.failed:
        err.print(f"[yellow]Skipped[/] {source}: {reason}.", highlight=False)
    summary = Table(title=f"Ingested {folder} in {report.seconds:.1f} s", title_justify="left")
    for column in ("added", "updated", "unchanged", "deleted", "failed", "chunks added"):
        summary.add_column(column, justify="right")
    summary.add_row(
        *map(str, (len(report.added), len(report.updated), len(report.unchanged))),
        *map(str, (len(report.deleted), len(report.failed), report.chunks_added)),
    )
    summary_to.print(summary)


@app.command()
def ingest(
    folder: Annotated[
        Path | None, typer.Argument(help="Folder of documents (default: QA_BOT_CORPUS_DIR).")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Drop the index and embed everything again.")
    ] = False,
) -> None:
    """Index a folder: new and changed files are embedded, deleted files removed, the rest kept."""
    settings = Settings()
    with _user_errors():
        store = _open_store(settings)
        if rebuild:
            store = store.reset()
        _ingest_with_progress(store, folder or settings.corpus_dir)


def _print_sources(answer: Answer) -> None:
    """The numbered sources, each marked verified or not, then any unsupported sentence."""
    if answer.citations:
        out.print("\n[bold]Sources[/]")
    for c in answer.citations:
        page = f", page {c.page}" if c.page else ""
        mark = "[green]✓ verified[/]" if c.verified else "[red]✗ not supported[/]"
        out.print(f"\\[{c.n}] {c.title} ({c.source}{page}) {mark}", highlight=False)
        out.print(f"    “{c.quote}”", highlight=False, style="dim", markup=False)
    for sentence in answer.unsupported:
        out.print(f"[red]Unsupported:[/] {sentence}", highlight=False)


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
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="Answer only from this file, folder or glob (relative to the corpus); repeat "
            "to allow several.",
        ),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is written.")
    ] = False,
) -> None:
    """Answer a question from the indexed documents, with numbered, verified sources."""
    from qa_bot.chain import QaChain, check_question

    settings = Settings()
    with _user_errors():
        check_question(question, settings.max_question_chars)
        chain = QaChain(_open_store(settings))
        if stream and not as_json:
            _print_sources(_stream_answer(chain.stream(question, sources=source or None)))
            return
        answer = chain.ask(question, sources=source or None)
    if as_json:
        print(answer.model_dump_json())
    else:
        out.print(answer.answer, highlight=False, markup=False)
        _print_sources(answer)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the chat UI, the HTTP API and the wiki widget (default http://127.0.0.1:7860)."""
    import uvicorn

    from qa_bot.api import create_app
    from qa_bot.chain import QaChain
    from qa_bot.ui import build_ui

    settings = Settings()
    with _user_errors():
        chain = QaChain(_open_store(settings))
    host, port = host or settings.host, port or settings.port
    err.print(f"Chat on http://{host}:{port} · API docs on http://{host}:{port}/docs")
    uvicorn.run(create_app(chain, build_ui(chain)), host=host, port=port, log_level="warning")


@app.command("eval")
def evaluate(
    dataset: Annotated[
        Path, typer.Option(help="Cases: qa-bot JSONL, or a SQuAD 2.0 .json file.")
    ] = Path("evals/datasets/default.jsonl"),
    corpus: Annotated[
        Path | None,
        typer.Option(help="Documents the cases are about (default: QA_BOT_CORPUS_DIR)."),
    ] = None,
    generator: Annotated[
        str | None, typer.Option(help="extractive or openai (default: QA_BOT_GENERATOR).")
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for report.json and report.html.")
    ] = Path("evals/report"),
    baseline: Annotated[
        Path | None, typer.Option(help="An earlier report.json to compare against.")
    ] = None,
    thresholds: Annotated[
        Path, typer.Option(help="Minimums/maximums that gate the exit code.")
    ] = Path("evals/thresholds.toml"),
    gate: Annotated[
        bool, typer.Option(help="Exit 1 when an aggregate misses its threshold.")
    ] = True,
    limit: Annotated[int | None, typer.Option(help="Only the first N cases.")] = None,
) -> None:
    """Measure answer quality on a dataset; exit 1 when an aggregate misses its threshold."""
    from qa_bot.evaluation.run import EvalRun

    with _user_errors():
        run = EvalRun.prepare(Settings(), dataset, corpus, generator, out_dir, limit)
        store = _open_store(run.settings)
        _ingest_with_progress(store, run.corpus, summary_to=err)
        columns = (TextColumn("Evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err) as bar:
            task = bar.add_task("", total=len(run.cases))
            run.execute(store, lambda done, _: bar.update(task, completed=done))
        failures = run.finish(baseline, thresholds if gate else None)
    out.print(run.table())
    for note in run.notes:
        err.print(f"[dim]{note}[/]", highlight=False)
    err.print(f"Reports: {out_dir / 'report.html'} and {out_dir / 'report.json'}")
    for failure in failures:
        err.print(f"[bold red]Below threshold:[/] {failure}", highlight=False)
    if failures:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
