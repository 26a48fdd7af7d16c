"""The ``qa-bot`` command line: ingest documents, ask questions, serve the chat UI."""

from __future__ import annotations

import json
import signal
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich import progress as bars
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.records import Answer

if TYPE_CHECKING:  # the heavy modules are imported lazily so that --help stays fast
    from qa_bot.ingest.index import IngestReport, Progress
    from qa_bot.server.local import LocalServer
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


def _progress(label: str) -> bars.Progress:
    """A progress bar on stderr: label, bar, done/total, elapsed, then the task's text."""
    columns = (
        bars.TextColumn(label),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TimeElapsedColumn(),
        bars.TextColumn("{task.description}"),
    )
    return bars.Progress(*columns, console=err)


def _open_store(settings: Settings) -> Store:
    """Load the model and open the index, with a spinner (it takes a few seconds)."""
    from qa_bot.storage.store import Store

    with err.status("Loading the embedding model and the index…"):
        return Store.open(settings)


def _print_report(report: IngestReport, summary_to: Console = out) -> None:
    """Skipped files, then one summary line of what an ingestion changed."""
    for name, reason in report.failed:
        err.print(f"[yellow]Skipped[/] {escape(name)}: {escape(reason)}.", highlight=False)
    title = f"Ingested {report.source or 'documents'} in {report.seconds:.1f} s"
    summary = Table(title=escape(title), title_justify="left")
    for column in ("added", "updated", "unchanged", "deleted", "failed", "chunks added"):
        summary.add_column(column, justify="right")
    summary.add_row(
        *map(str, (len(report.added), len(report.updated), len(report.unchanged))),
        *map(str, (len(report.deleted), len(report.failed), report.chunks_added)),
    )
    summary_to.print(summary)


def _with_progress(
    run: Callable[[Progress], list[IngestReport]], summary_to: Console = out
) -> list[IngestReport]:
    """Run ingestions with a progress bar, then print what each changed."""
    with _progress("Ingesting") as bar:
        task = bar.add_task("", total=None)
        reports = run(
            lambda done, total, name: bar.update(
                task, completed=done, total=total, description=escape(name)
            )
        )
    for report in reports:
        _print_report(report, summary_to)
    return reports


def _through_server(
    server: LocalServer, folders: list[Path], rebuild: bool = False
) -> list[IngestReport]:
    """Ingest through the running server (it owns the index), following its progress."""
    import httpx

    from qa_bot.ingest.index import IngestReport

    err.print(f"A qa-bot server runs on this index ({server.url}): ingesting through it.")
    body = {"folders": [str(f.resolve()) for f in folders], "rebuild": rebuild}

    def run(progress: Progress) -> list[IngestReport]:
        url = f"{server.url}/api/knowledge/ingest"
        with httpx.stream("POST", url, json=body, headers=server.headers, timeout=None) as reply:
            if reply.status_code != 200:
                raise QaBotError(json.loads(reply.read())["detail"])
            for line in reply.iter_lines():
                event = json.loads(line)
                if "progress" in event:
                    step = event["progress"]
                    progress(step["done"], step["total"], step["name"])
                elif "error" in event:
                    raise QaBotError(event["error"])
                else:
                    return [IngestReport.from_dict(r) for r in event["reports"]]
        raise QaBotError("The server stopped before the ingestion ended: run it again.")

    return _with_progress(run)


def _server_call(server: LocalServer, method: str, path: str, **kwargs: Any) -> Any:
    """One call to the running server as the local admin; its error as a QaBotError."""
    import httpx

    reply = httpx.request(method, server.url + path, headers=server.headers, timeout=None, **kwargs)
    if reply.status_code >= 400:
        raise QaBotError(reply.json().get("detail", f"The server answered {reply.status_code}."))
    return reply.json()


def _ingest_here(store: Store, folders: list[Path], summary_to: Console = out) -> None:
    from qa_bot.ingest import ingest as run_ingest

    _with_progress(lambda p: [run_ingest(store, f, p) for f in folders], summary_to)


@app.command()
def ingest(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Folders of documents, each kept as a source of its own "
            "(default: QA_BOT_INGEST__CORPUS_DIR)."
        ),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            help="Embed every source again into a new index, then switch to it (the old one "
            "answers until then)."
        ),
    ] = False,
) -> None:
    """Add folders to the knowledge base, or bring them up to date: new and changed files are
    embedded, deleted files removed, the rest kept. Other sources are left alone. When a qa-bot
    server runs on this index, the work goes through it."""
    from qa_bot.ingest.knowledge import KnowledgeBase
    from qa_bot.server.local import find

    settings = _load_settings()
    wanted = [] if rebuild and not folders else list(folders or [settings.ingest.corpus_dir])
    with _user_errors():
        if server := find(settings):
            _through_server(server, wanted, rebuild)
            return
        store = _open_store(settings)
        if rebuild:
            knowledge = KnowledgeBase(store)
            _with_progress(knowledge.rebuild)
            store = knowledge.store
        _ingest_here(store, wanted)


sources_app = typer.Typer(help="The folders in the knowledge base, and their documents.")
app.add_typer(sources_app, name="sources")


@sources_app.command("list")
def sources_list() -> None:
    """Every source: its name, folder and number of documents."""
    from qa_bot.ingest.knowledge import KnowledgeBase

    with _user_errors():
        knowledge = KnowledgeBase(_open_store(_load_settings()))
        counts = Counter(d.source for d in knowledge.documents())
        table = Table(title="Sources", title_justify="left")
        for column in ("name", "folder", "documents"):
            table.add_column(column)
        for source in knowledge.sources():
            table.add_row(escape(source.name), escape(str(source.path)), str(counts[source.name]))
    out.print(table)


@sources_app.command("documents")
def sources_documents() -> None:
    """Every indexed document: title, pages, chunks, when it was ingested."""
    from qa_bot.ingest.knowledge import KnowledgeBase

    with _user_errors():
        documents = KnowledgeBase(_open_store(_load_settings())).documents()
    table = Table(title="Documents", title_justify="left")
    for column in ("document", "title", "pages", "chunks", "ingested at"):
        table.add_column(column)
    for d in documents:
        row = (d.name, d.title, str(d.pages or ""), str(d.chunks), d.ingested_at or "")
        table.add_row(*map(escape, row))
    out.print(table)


@sources_app.command("remove")
def sources_remove(name: Annotated[str, typer.Argument(help="The source's name.")]) -> None:
    """Remove a source and its documents from the index (its folder is not touched)."""
    from qa_bot.ingest.knowledge import KnowledgeBase
    from qa_bot.server.local import find

    settings = _load_settings()
    with _user_errors():
        if server := find(settings):
            removed = _server_call(server, "DELETE", f"/api/knowledge/{name}")["chunks_removed"]
        else:
            removed = KnowledgeBase(_open_store(settings)).remove(name)
    out.print(f"Removed {escape(name)} ({removed} chunks).", highlight=False)


@sources_app.command("resync")
def sources_resync(
    name: Annotated[str | None, typer.Argument(help="One source (default: all).")] = None,
) -> None:
    """Bring one source, or all, up to date with its folder."""
    from qa_bot.ingest.knowledge import KnowledgeBase
    from qa_bot.server.local import find
    from qa_bot.storage.catalog import Catalog

    settings = _load_settings()
    with _user_errors():
        if server := find(settings):
            known = Catalog(settings.data_path / "catalog.sqlite").sources()
            chosen = [s.path for s in known if name in (None, s.name)]
            if name and not chosen:
                raise QaBotError(f"No source called '{name}': `qa-bot sources list` shows them.")
            _through_server(server, chosen)
            return
        knowledge = KnowledgeBase(_open_store(settings))
        _with_progress(lambda progress: knowledge.resync(name, progress))


keys_app = typer.Typer(help="API keys with roles (reader or admin); stored hashed.")
app.add_typer(keys_app, name="keys")


@keys_app.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    role: Annotated[str, typer.Option(help="reader (ask, sources, feedback) or admin.")] = "reader",
) -> None:
    """Make a key and print it once (only its hash is kept)."""
    from qa_bot.storage.keys import KeyStore

    with _user_errors():
        if role not in ("reader", "admin"):
            raise QaBotError(f"Unknown role '{role}': use reader or admin.")
        key = KeyStore(_load_settings().data_path / "keys.json").add(name, role)  # type: ignore[arg-type]
    err.print(f"Key for {escape(name)} ({role}); it is shown only now:", highlight=False)
    print(key)


@keys_app.command("list")
def keys_list() -> None:
    """Every key's name, role and creation time (never the key)."""
    from qa_bot.storage.keys import KeyStore

    table = Table(title="API keys", title_justify="left")
    for column in ("name", "role", "created"):
        table.add_column(column)
    for key in KeyStore(_load_settings().data_path / "keys.json").all():
        table.add_row(escape(key.name), key.role, key.created)
    out.print(table)


@keys_app.command("remove")
def keys_remove(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key."""
    from qa_bot.storage.keys import KeyStore

    with _user_errors():
        KeyStore(_load_settings().data_path / "keys.json").remove(name)
    out.print(f"Removed the key {escape(name)}.", highlight=False)


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
    local: Annotated[
        bool,
        typer.Option("--local", help="Answer in this process even when a server is running."),
    ] = False,
) -> None:
    """Answer a question from the indexed documents, with numbered, verified sources. When a
    qa-bot server runs on this index, it answers (no model to load here)."""
    from qa_bot.server.local import find

    settings = _load_settings()
    with _user_errors():
        server = None if local else find(settings)
        pieces = _served_pieces(server, question, only) if server else None
        if pieces is None:
            from qa_bot.chain import QaChain, check_question

            check_question(question, settings.answer.max_question_chars)
            chain = QaChain(_open_store(settings))
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the chat UI, the HTTP API and the wiki widget (default http://127.0.0.1:7860)."""
    import uvicorn

    from qa_bot.chain import QaChain
    from qa_bot.server.app import access_policy, create_app
    from qa_bot.server.local import announce, withdraw
    from qa_bot.server.ui import build_ui

    loaded = _load_settings()
    host, port = host or loaded.server.host, port or loaded.server.port
    settings = loaded.updated(server={"host": host, "port": port})
    with _user_errors():
        chain = QaChain(_open_store(settings))
    if not access_policy(settings).auth_configured and not settings.server.loopback:
        err.print(
            f"[bold yellow]Warning:[/] listening on {escape(host)} with no keys or proxy "
            "configured: everyone may read, nobody may change documents (docs/security.md).",
            highlight=False,
        )
    err.print(f"Chat on http://{host}:{port} · API docs on http://{host}:{port}/docs")
    local_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    record = announce(settings, f"http://{local_host}:{port}")  # the CLI works through us
    app_ = create_app(chain, build_ui(chain), local_token=record.token)
    # uvicorn re-raises SIGTERM once it has shut down: end through `finally` below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        # X-Forwarded-For is read by qa-bot itself, and only from server.trusted_proxies
        uvicorn.run(app_, host=host, port=port, log_level="warning", proxy_headers=False)
    finally:
        withdraw(settings, record)


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
        _ingest_here(store, [run.corpus], summary_to=err)
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
    """Check Python, the browser, the models, the index and the servers; say how to fix each."""
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
