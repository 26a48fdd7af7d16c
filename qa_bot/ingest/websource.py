"""A web source in the index: brought up to date (``sync_web``; added by ``index.ingest_url``)
page by page, as a folder is file by file: new and changed pages embedded, unchanged ones (304, or
the same body) skipped, deleted ones (404, 410) removed; a page that fails keeps its chunks."""

from __future__ import annotations

import time
from contextlib import closing

from qa_bot.ingest.batch import (
    GROUP_CHUNKS,
    IngestReport,
    Prepared,
    Progress,
    ahead,
    exclusive,
    index_group,
    limits,
    stopped_early,
)
from qa_bot.ingest.web import Crawl, Visit, shown
from qa_bot.ingest.workers import Stopped
from qa_bot.storage.catalog import Catalog, Source, WebPage
from qa_bot.storage.store import Store


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
            store.settings.ingest,
            limits(store),
        )
        pending: list[tuple[Prepared, WebPage]] = []
        try:
            _follow(store, catalog, source, crawl, pending, report, progress)
        except Stopped as stop:
            _index(store, catalog, source, pending, report)
            stopped_early(report, stop)
        finally:
            store.sync_lexical()
        report.failed += [(f"{source.name}/", note) for note in crawl.notes]
    report.seconds = time.perf_counter() - started
    return report


def _follow(
    store: Store,
    catalog: Catalog,
    source: Source,
    crawl: Crawl,
    pending: list[tuple[Prepared, WebPage]],
    report: IngestReport,
    progress: Progress | None,
) -> None:
    """Index the crawl's fetched pages a group at a time, and record every other visit."""
    done = 0
    with closing(ahead(crawl.visits())) as visits:
        for visit in visits:
            done += 1
            if progress:
                progress(done, max(crawl.planned, done), shown(visit.url))
            if visit.kind != "fetched":
                _record(store, catalog, visit, report, start=visit.url == source.url)
                continue
            assert visit.page is not None
            pending.append((Prepared(visit.document, visit.chunks), visit.page))
            if sum(len(p.chunks) for p, _ in pending) >= GROUP_CHUNKS:
                _index(store, catalog, source, pending, report)
    _index(store, catalog, source, pending, report)


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
