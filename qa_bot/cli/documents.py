"""`qa-bot ingest` and `qa-bot sources`: the folders and web sources in the knowledge base."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from qa_bot.cli.backends import backend
from qa_bot.cli.common import app, load_settings, out, user_errors, with_progress


def is_address(target: str) -> bool:
    """Whether a target names a web address (``https://…``, or any ``scheme:``) rather than a
    folder; a folder that exists wins."""
    return bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target)) and not Path(target).exists()


@app.command()
def ingest(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Folders of documents, or web addresses (https://wiki.example.internal/space/: "
            "the pages under it, from hosts in QA_BOT_WEB__ALLOWED_HOSTS), each kept as a "
            "source of its own (default: QA_BOT_INGEST__CORPUS_DIR).",
            metavar="[FOLDERS_OR_URLS]...",
        ),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            help="Embed every source again into a new index, then switch to it (the old one "
            "answers until then)."
        ),
    ] = False,
    cancel: Annotated[
        bool,
        typer.Option(
            "--cancel",
            help="Stop the ingestion running on this index (here or in the server) after the "
            "file or page it is reading; what it indexed stays.",
        ),
    ] = False,
) -> None:
    """Add folders or web sources to the knowledge base, or bring them up to date: new and
    changed files or pages are embedded, deleted ones removed, the rest kept. Other sources are
    left alone. When a qa-bot server runs on this index, the work goes through it."""
    settings = load_settings()
    if cancel:
        with user_errors():
            out.print(backend(settings).cancel(), highlight=False)
        return
    given = targets or ([] if rebuild else [str(settings.ingest.corpus_dir)])
    urls = [t for t in given if is_address(t)]
    folders = [Path(t) for t in given if not is_address(t)]
    with user_errors():
        if urls:  # an address the rules refuse is refused before the model loads
            from qa_bot.ingest.web import check_url

            urls = [check_url(url, settings.web) for url in urls]
        chosen = backend(settings, any_model=rebuild)
        with_progress(lambda progress: chosen.ingest(folders, urls, rebuild, progress))


sources_app = typer.Typer(
    help="The folders and web sources in the knowledge base, and their documents."
)
app.add_typer(sources_app, name="sources")


@sources_app.command("list")
def sources_list() -> None:
    """Every source: its name, folder or web address, number of documents and who may read it."""
    with user_errors():
        chosen = backend(load_settings())
        sources, documents = chosen.sources(), chosen.documents()
    counts = Counter(d.source for d in documents)
    table = Table(title="Sources", title_justify="left")
    for column in ("name", "folder or address", "documents", "groups"):
        table.add_column(column)
    for source in sources:
        readers = ", ".join(source.groups) or "everyone"
        where = source.url or str(source.path)
        row = (source.name, where, str(counts[source.name]), readers)
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
    """Remove a source and its documents from the index (its folder, or its wiki, is not
    touched)."""
    with user_errors():
        removed = backend(load_settings()).remove(name)
    out.print(f"Removed {escape(name)} ({removed} chunks).", highlight=False)


@sources_app.command("resync")
def sources_resync(
    name: Annotated[str | None, typer.Argument(help="One source (default: all).")] = None,
) -> None:
    """Bring one source, or all, up to date with its folder or its web pages."""
    with user_errors():
        chosen = backend(load_settings())
        with_progress(lambda progress: chosen.resync(name, progress))
