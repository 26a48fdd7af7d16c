"""The ``qa-bot`` command line: ingest documents, ask questions, serve the chat UI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.records import Answer

if TYPE_CHECKING:  # the heavy modules are imported lazily so that --help stays fast
    from qa_bot.storage.store import Store

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


def _settings_problem(error: ValidationError) -> str:
    """A settings error as one sentence naming the key."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"Bad setting {where}: {first['msg']} (check qa-bot.toml and QA_BOT_* variables)."


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a user-caused error into one plain line on stderr and exit code 1."""
    try:
        yield
    except QaBotError as error:
        err.print(f"[bold red]Error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    except ValidationError as error:
        err.print(f"[bold red]Error:[/] {escape(_settings_problem(error))}", highlight=False)
        raise typer.Exit(1) from None
    except ValueError as error:  # an unknown QA_BOT_* variable
        err.print(f"[bold red]Error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None


def _load_settings() -> Settings:
    """The settings, or one plain line saying which key is wrong."""
    with _user_errors():
        return Settings()
    raise AssertionError("unreachable")  # _user_errors exits


def _progress(label: str) -> Progress:
    """A progress bar on stderr: label, bar, done/total, elapsed, then the task's text."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, TextColumn("{task.description}"), console=err)


def _open_store(settings: Settings) -> Store:
    """Load the model and open the index, with a spinner (it takes a few seconds)."""
    from qa_bot.storage.store import Store

    with err.status("Loading the embedding model and the index…"):
        return Store.open(settings)


def _ingest_with_progress(store: Store, folder: Path, summary_to: Console = out) -> None:
    """Ingest ``folder`` with a progress bar, then print skipped files and a summary."""
    from qa_bot.ingest import ingest as run_ingest

    with _progress("Ingesting") as bar:
        task = bar.add_task("", total=None)
        report = run_ingest(
            store,
            folder,
            lambda done, total, source: bar.update(
                task, completed=done, total=total, description=escape(source)
            ),
        )
    for source, reason in report.failed:
        err.print(f"[yellow]Skipped[/] {escape(source)}: {escape(reason)}.", highlight=False)
    summary = Table(
        title=escape(f"Ingested {folder} in {report.seconds:.1f} s"), title_justify="left"
    )
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
        Path | None,
        typer.Argument(help="Folder of documents (default: QA_BOT_INGEST__CORPUS_DIR)."),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Drop the index and embed everything again.")
    ] = False,
) -> None:
    """Index a folder: new and changed files are embedded, deleted files removed, the rest kept."""
    settings = _load_settings()
    with _user_errors():
        store = _open_store(settings)
        if rebuild:
            store = store.reset()
        _ingest_with_progress(store, folder or settings.ingest.corpus_dir)


def _print_sources(answer: Answer) -> None:
    """The numbered sources, each marked verified or not, then any unsupported sentence."""
    if answer.citations:
        out.print("\n[bold]Sources[/]")
    for c in answer.citations:
        page = f", page {c.page}" if c.page else ""
        mark = "[green]✓ verified[/]" if c.verified else "[red]✗ not supported[/]"
        out.print(f"\\[{c.n}] {escape(c.title)} ({escape(c.source)}{page}) {mark}", highlight=False)
        out.print(f"    “{c.quote}”", highlight=False, style="dim", markup=False)
    for sentence in answer.unsupported:
        out.print(f"[red]Unsupported:[/] {escape(sentence)}", highlight=False)


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
) -> None:
    """Answer a question from the indexed documents, with numbered, verified sources."""
    from qa_bot.chain import QaChain, check_question

    settings = _load_settings()
    with _user_errors():
        check_question(question, settings.answer.max_question_chars)
        chain = QaChain(_open_store(settings))
        if stream and not as_json:
            _print_sources(_stream_answer(chain.stream(question, only=only or None)))
            return
        answer = chain.ask(question, only=only or None)
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

    from qa_bot.chain import QaChain
    from qa_bot.server import create_app
    from qa_bot.server.ui import build_ui

    settings = _load_settings()
    with _user_errors():
        chain = QaChain(_open_store(settings))
    host, port = host or settings.server.host, port or settings.server.port
    err.print(f"Chat on http://{host}:{port} · API docs on http://{host}:{port}/docs")
    uvicorn.run(create_app(chain, build_ui(chain)), host=host, port=port, log_level="warning")


@app.command("eval")
def evaluate(
    dataset: Annotated[
        Path, typer.Option(help="Cases: qa-bot JSONL, or a SQuAD 2.0 .json file.")
    ] = Path("evals/datasets/default.jsonl"),
    corpus: Annotated[
        Path | None,
        typer.Option(help="Documents the cases are about (default: QA_BOT_INGEST__CORPUS_DIR)."),
    ] = None,
    generator: Annotated[
        str | None,
        typer.Option(help="A registered answerer (default: QA_BOT_ANSWER__GENERATOR)."),
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
        run = EvalRun.prepare(_load_settings(), dataset, corpus, generator, out_dir, limit)
        store = _open_store(run.settings)
        _ingest_with_progress(store, run.corpus, summary_to=err)
        with _progress("Evaluating") as bar:
            task = bar.add_task("", total=len(run.cases))
            run.execute(store, lambda done, _: bar.update(task, completed=done))
        failures = run.finish(baseline, thresholds if gate else None)
    out.print(run.table())
    for note in run.notes:
        err.print(f"[dim]{escape(note)}[/]", highlight=False)
    err.print(f"Reports: {out_dir / 'report.html'} and {out_dir / 'report.json'}")
    for failure in failures:
        err.print(f"[bold red]Below threshold:[/] {escape(failure)}", highlight=False)
    if failures:
        raise typer.Exit(1)


@app.command("config")
def show_config() -> None:
    """Print the effective settings, where each came from, and its env var (secrets masked)."""
    from qa_bot.config import known_env_names, setting_origins

    settings = _load_settings()
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
    """Check Python, the models, the browser, the index and the configured servers; print a
    fix for each problem. Exit 1 when something needed is missing."""
    from qa_bot.doctor import run_checks

    settings = _load_settings()
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


if __name__ == "__main__":
    app()
