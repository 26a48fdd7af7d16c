"""A web source in the index: added (``ingest_url``) and brought up to date (``sync_web``) page
by page, as a folder is file by file: new and changed pages embedded, unchanged ones (304, or
the same body) skipped, deleted ones (404, 410) removed; a page that fails keeps its chunks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing

from langchain_core.documents import Document

from qa_bot.ingest.index import (
    GROUP_CHUNKS,
    IngestReport,
    Prepared,
    Progress,
    ahead,
    exclusive,
    index_group,
    open_catalog,
    sync_source,
)
from qa_bot.ingest.split import split_documents
from qa_bot.ingest.web import Crawl, Visit, WebError, check_url, shown
from qa_bot.storage.catalog import Catalog, Source, WebPage
from qa_bot.storage.store import Store

MB = 1024 * 1024


def ingest_url(store: Store, url: str, progress: Progress | None = None) -> IngestReport:
    """Add the web source of the pages under ``url`` (if new) and bring it up to date. A new
    source is registered with its first indexed page, so one from which no page was indexed
    (refused, failed, or its process killed) is not kept: its first refusal is the error."""
    target = check_url(url, store.settings.web)
    catalog = open_catalog(store)
    with exclusive(store):  # a new source's name stays its own until it is registered
        known = any(s.url == target for s in catalog.sources())
        taken: set[str] = set()
        if store.settings.store.shared:  # other replicas' sources, as of now
            store.sync_lexical()
            taken = {name.split("/", 1)[0] for name in store.documents()}
        report = sync_source(store, catalog, catalog.web_source(target, taken), progress)
    if not known and not (report.added or report.updated or report.unchanged):
        why = report.failed[0][1] if report.failed else "no page under it could be read"
        raise WebError(target, why)
    return report


def sync_web(
    store: Store, catalog: Catalog, source: Source, progress: Progress | None
) -> IngestReport:
    """Fetch a web source's pages again and bring its documents in line; other sources are
    left alone (``index.sync_source`` runs it, and counts it in ``/metrics``)."""
    assert source.url is not None
    started = time.perf_counter()
    report = IngestReport(source=source.name)
    with exclusive(store):
        store.sync_lexical()  # the document list below comes from it
        crawl = Crawl(
            source.name,
            source.url,
            store.settings.web,
            catalog.web_pages(source.name),
            store.documents(),
        )
        pending: list[tuple[Prepared, WebPage]] = []
        done = 0
        with closing(ahead(_prepared(crawl, store))) as visits:
            for visit, prepared in visits:
                done += 1
                if progress:
                    progress(done, max(crawl.planned, done), shown(visit.url))
                if prepared is None:
                    _record(store, catalog, visit, report, start=visit.url == source.url)
                    continue
                assert visit.page is not None
                pending.append((prepared, visit.page))
                if sum(len(p.chunks) for p, _ in pending) >= GROUP_CHUNKS:
                    _index(store, catalog, source, pending, report)
        _index(store, catalog, source, pending, report)
        report.failed += [(f"{source.name}/", note) for note in crawl.notes]
        store.sync_lexical()
    report.seconds = time.perf_counter() - started
    return report


def _prepared(crawl: Crawl, store: Store) -> Iterator[tuple[Visit, Prepared | None]]:
    """Each visit, with the chunks of a fetched page (or why it holds none to index)."""
    ingest = store.settings.ingest
    for visit in crawl.visits():
        if visit.kind != "fetched":
            yield visit, None
            continue
        problem = _text_problem(visit.text, ingest.max_text_mb)
        if problem:
            yield Visit(visit.url, visit.document, "failed", problem=problem), None
            continue
        metadata = {
            "source": visit.document,
            "title": visit.title or visit.document,
            "url": visit.url,
        }
        docs = [Document(page_content=visit.text, metadata=metadata)]
        chunks = split_documents(docs, ingest.chunk_size, ingest.chunk_overlap)
        yield visit, Prepared(visit.document, chunks)


def _text_problem(text: str, max_text_mb: float) -> str | None:
    """Why a page's text is not indexed: none, or more than ``ingest.max_text_mb``."""
    if not text.strip():
        return "it holds no text"
    if len(text) > max_text_mb * MB:
        return (
            f"it holds more than {max_text_mb:g} MB of text (raise QA_BOT_INGEST__MAX_TEXT_MB "
            "to ingest it)"
        )
    return None


def _record(
    store: Store, catalog: Catalog, visit: Visit, report: IngestReport, start: bool
) -> None:
    """What a visit with nothing to embed changed: a record kept, a document removed, a
    failure reported (its document kept), or nothing (a link to a missing page is ignored,
    unless it is the ``start`` address)."""
    if visit.kind == "unchanged":
        assert visit.page is not None
        catalog.keep_page(visit.page)
        report.unchanged.append(visit.document)
    elif visit.kind == "gone":
        catalog.forget_page(report.source, visit.url)
        if visit.document in store.documents():
            report.chunks_deleted += store.delete_document(visit.document)
            catalog.forget(visit.document)
            report.deleted.append(visit.document)
        elif start:
            report.failed.append((visit.document, "the server answered that it does not exist"))
        else:
            report.ignored += 1
    elif visit.kind == "failed":
        report.failed.append((visit.document, visit.problem or "it could not be read"))
    else:
        report.ignored += 1


def _index(
    store: Store,
    catalog: Catalog,
    source: Source,
    pending: list[tuple[Prepared, WebPage]],
    report: IngestReport,
) -> None:
    """Index fetched pages in one pass, then register their source (if new: so a source is
    never kept without pages) and keep the pages' records."""
    if pending:
        index_group(store, catalog, [prepared for prepared, _ in pending], report)
        catalog.add(source)
        for _, page in pending:
            catalog.keep_page(page)
        pending.clear()
