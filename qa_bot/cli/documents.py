"""`qa-bot ingest` and `qa-bot sources`: the folders in the knowledge base."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qa_bot.cli.backends import backend
from qa_bot.cli.common import app, load_settings, out, user_errors, with_progress


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
    settings = load_settings()
    wanted = [] if rebuild and not folders else list(folders or [settings.ingest.corpus_dir])
    with user_errors():
        chosen = backend(settings, any_model=rebuild)
        with_progress(lambda progress: chosen.ingest(wanted, rebuild, progress))


sources_app = typer.Typer(help="The folders in the knowledge base, and their documents.")
app.add_typer(sources_app, name="sources")


@sources_app.command("list")
def sources_list() -> None:
    """Every source: its name, folder, number of documents and who may read it."""
    with user_errors():
        chosen = backend(load_settings())
        sources, documents = chosen.sources(), chosen.documents()
    counts = Counter(d.source for d in documents)
    table = Table(title="Sources", title_justify="left")
    for column in ("name", "folder", "documents", "groups"):
        table.add_column(column)
    for source in sources:
        readers = ", ".join(source.groups) or "everyone"
        row = (source.name, str(source.path), str(counts[source.name]), readers)
        table.add_row(*map(escape, row))
    out.print(table)


@sources_app.command("restrict")
def sources_restrict(
    name: Annotated[str, typer.Argument(help="The source's name (`qa-bot sources list`).")],
    groups: Annotated[
        str | None,
        typer.Option(
            help="The groups that may read it, comma-separated (hr,finance); '' lifts the "
            "restriction. Admins read every source."
        ),
    ] = None,
    everyone: Annotated[
        bool, typer.Option("--everyone", help="Let everyone read it again.")
    ] = False,
) -> None:
    """Let only some groups read a source: keys made with `qa-bot keys add --groups`, users
    a trusted proxy names in its groups header, and admins. Anyone else never gets its text in
    an answer, a citation, the source viewer, the document list or /healthz."""
    from qa_bot.errors import QaBotError
    from qa_bot.storage.restrictions import parse_groups

    with user_errors():
        if everyone and groups is not None:
            raise QaBotError("Give either --groups or --everyone, not both.")
        if groups is None and not everyone:
            raise QaBotError("Give --groups hr,finance, or --everyone to lift the restriction.")
        set_to = backend(load_settings()).restrict(name, parse_groups(groups or ""))
    readers = f"the groups {', '.join(set_to)} and admins" if set_to else "everyone"
    out.print(f"{escape(name)} is now read by {escape(readers)}.", highlight=False)


@sources_app.command("documents")
def sources_documents() -> None:
    """Every indexed document: title, pages, chunks, when it was ingested."""
    with user_errors():
        documents = backend(load_settings()).documents()
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
    with user_errors():
        removed = backend(load_settings()).remove(name)
    out.print(f"Removed {escape(name)} ({removed} chunks).", highlight=False)


@sources_app.command("resync")
def sources_resync(
    name: Annotated[str | None, typer.Argument(help="One source (default: all).")] = None,
) -> None:
    """Bring one source, or all, up to date with its folder."""
    with user_errors():
        chosen = backend(load_settings())
        with_progress(lambda progress: chosen.resync(name, progress))
