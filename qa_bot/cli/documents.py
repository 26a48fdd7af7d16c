"""`qa-bot ingest` and `qa-bot sources`: the folders in the knowledge base."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from qa_bot.ingest.knowledge import DocumentInfo
    from qa_bot.storage.catalog import Source

from qa_bot.cli.common import (
    app,
    ingest_here,
    load_settings,
    open_store,
    out,
    server_call,
    through_server,
    user_errors,
    with_progress,
)
from qa_bot.errors import QaBotError


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

    settings = load_settings()
    wanted = [] if rebuild and not folders else list(folders or [settings.ingest.corpus_dir])
    with user_errors():
        if server := find(settings):
            through_server(server, wanted, rebuild)
            return
        store = open_store(settings, any_model=rebuild)  # a rebuild may change the model
        if rebuild:
            knowledge = KnowledgeBase(store)
            with_progress(knowledge.rebuild)
            store = knowledge.store
        ingest_here(store, wanted)


sources_app = typer.Typer(help="The folders in the knowledge base, and their documents.")
app.add_typer(sources_app, name="sources")


def _listing() -> tuple[list[Source], list[DocumentInfo]]:
    """The sources and the indexed documents, from the running server when there is one."""
    from qa_bot.ingest.knowledge import DocumentInfo, KnowledgeBase
    from qa_bot.server.local import find
    from qa_bot.storage.catalog import Source

    settings = load_settings()
    if server := find(settings):
        sources = [Source(**s) for s in server_call(server, "GET", "/api/knowledge")]
        documents = server_call(server, "GET", "/api/documents")
        return sources, [DocumentInfo(**d) for d in documents]
    knowledge = KnowledgeBase(open_store(settings))
    return knowledge.sources(), knowledge.documents()


@sources_app.command("list")
def sources_list() -> None:
    """Every source: its name, folder and number of documents."""
    with user_errors():
        sources, documents = _listing()
    counts = Counter(d.source for d in documents)
    table = Table(title="Sources", title_justify="left")
    for column in ("name", "folder", "documents"):
        table.add_column(column)
    for source in sources:
        table.add_row(escape(source.name), escape(str(source.path)), str(counts[source.name]))
    out.print(table)


@sources_app.command("documents")
def sources_documents() -> None:
    """Every indexed document: title, pages, chunks, when it was ingested."""
    with user_errors():
        _, documents = _listing()
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

    settings = load_settings()
    with user_errors():
        if server := find(settings):
            removed = server_call(server, "DELETE", f"/api/knowledge/{name}")["chunks_removed"]
        else:
            removed = KnowledgeBase(open_store(settings)).remove(name)
    out.print(f"Removed {escape(name)} ({removed} chunks).", highlight=False)


@sources_app.command("resync")
def sources_resync(
    name: Annotated[str | None, typer.Argument(help="One source (default: all).")] = None,
) -> None:
    """Bring one source, or all, up to date with its folder."""
    from qa_bot.ingest.knowledge import KnowledgeBase
    from qa_bot.server.local import find
    from qa_bot.storage.catalog import Catalog

    settings = load_settings()
    with user_errors():
        if server := find(settings):
            known = Catalog(settings.data_path / "catalog.sqlite").sources()
            chosen = [s.path for s in known if name in (None, s.name)]
            if name and not chosen:
                raise QaBotError(f"No source called '{name}': `qa-bot sources list` shows them.")
            through_server(server, chosen)
            return
        knowledge = KnowledgeBase(open_store(settings))
        with_progress(lambda progress: knowledge.resync(name, progress))
