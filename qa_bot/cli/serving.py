"""`qa-bot serve` and `qa-bot eval`."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qa_bot.cli.common import (
    app,
    err,
    ingest_here,
    load_settings,
    open_store,
    out,
    progress_bar,
    user_errors,
)
from qa_bot.config import Settings
from qa_bot.errors import QaBotError


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the chat UI, the HTTP API and the wiki widget (default http://127.0.0.1:7860)."""
    loaded = load_settings()
    host, port = host or loaded.server.host, port or loaded.server.port
    settings = loaded.updated(server={"host": host, "port": port})
    with user_errors():  # before anything heavy: a second server, or a taken port, ends here
        _refuse_a_second_server(settings)
        listening = _listen(host, port)
    from qa_bot.chain import QaChain
    from qa_bot.server.app import Server, access_policy, create_app, uvicorn_config
    from qa_bot.server.local import announce, withdraw
    from qa_bot.server.ui import build_ui

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("qa_bot").setLevel(settings.server.log_level.upper())  # not the libraries
    with user_errors():
        chain = QaChain(open_store(settings))
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
    if settings.server.warm_sentences:
        from qa_bot.storage.warmer import SentenceWarmer

        SentenceWarmer(lambda: chain.store).start()
    # uvicorn re-raises SIGTERM once it has shut down: end through `finally` below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        Server(uvicorn_config(app_, host, port)).run(sockets=[listening])
    finally:
        withdraw(settings, record)


def _refuse_a_second_server(settings: Settings) -> None:
    """Stop when a live server already serves this data dir (a stale record is ignored)."""
    from qa_bot.server.local import find

    running = find(settings)
    if running is not None:
        raise QaBotError(
            f"qa-bot already serves this data dir on {running.url}: use it, or stop it "
            f"(process {running.pid}) before serving again."
        )


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` for uvicorn, held from now on (so no other program
    or server takes the port while the models load)."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen()
    except OSError as error:
        listening.close()
        raise QaBotError(_bind_problem(host, port, error)) from None
    return listening


def _bind_problem(host: str, port: int, error: OSError) -> str:
    """Why the server cannot listen, as one sentence naming the setting to change."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"Port {port} is taken by another program: stop it, or serve on another port "
            "with --port or QA_BOT_SERVER__PORT."
        )
    return (
        f"Cannot listen on {host}:{port} ({error.strerror or error}): change --host and "
        "--port, or QA_BOT_SERVER__HOST and QA_BOT_SERVER__PORT."
    )


@app.command("eval")
def evaluate(
    dataset: Annotated[
        Path, typer.Option(help="Cases: qa-bot JSONL, or a SQuAD 2.0 .json file.")
    ] = Path("evals/datasets/default.jsonl"),
    corpus: Annotated[
        Path | None,
        typer.Option(help="Documents the cases are about (default: QA_BOT_INGEST__CORPUS_DIR)."),
    ] = None,
    answerer: Annotated[
        str | None,
        typer.Option(
            "--answerer",
            "--generator",
            help="A registered answerer (default: QA_BOT_ANSWER__ANSWERER).",
        ),
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
    judge: Annotated[
        str | None,
        typer.Option(
            help="A chat model ('local', 'openai') judging faithfulness and answer relevancy."
        ),
    ] = None,
) -> None:
    """Measure answer quality on a dataset; exit 1 when an aggregate misses its threshold."""
    if "--generator" in sys.argv:
        err.print("--generator is now --answerer: rename it, the old name will go.")
    from qa_bot.evaluation.run import EvalRun

    with user_errors():
        run = EvalRun.prepare(
            load_settings(),
            dataset,
            corpus,
            answerer,
            out_dir,
            limit,
            judge,
        )
        store = open_store(run.settings)
        ingest_here(store, [run.corpus], summary_to=err)
        with progress_bar("Evaluating") as bar:
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
