"""The BM25 index: tantivy (English stemming) over the same chunks as Chroma, in a folder.

Any process may open the folder. A write takes tantivy's writer lock for one commit (waiting
while another process holds it, a commit is atomic); a read sees every commit made before it.
A folder's earlier SQLite FTS5 index (``<folder>.sqlite``) is imported the first time it opens.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import tantivy
from langchain_core.documents import Document

from qa_bot.text import content_words

TOKENIZER = "qa_bot_english"
ANALYZER = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)
"""Words split at anything not a letter or digit, lower-cased, stemmed (Porter2): the same
for chunks and questions."""


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("source", stored=True, tokenizer_name="raw")
    builder.add_text_field("metadata", stored=True, index_option="basic", tokenizer_name="raw")
    builder.add_text_field("text", stored=True, tokenizer_name=TOKENIZER)
    return builder.build()


SCHEMA = _schema()
WRITER_HEAP = 32_000_000
"""Bytes a writer buffers before it flushes a segment."""
LOCK_WAIT = 120.0
"""Seconds a write waits for another process's commit before it gives up."""


def _terms(question: str) -> list[str]:
    """The question's content words as the index holds them, each once."""
    return list(dict.fromkeys(ANALYZER.analyze(" ".join(content_words(question)))))


def _any_of(terms: list[str]) -> tantivy.Query:
    """Chunks holding any of the terms, scored by BM25."""
    should = tantivy.Occur.Should
    return tantivy.Query.boolean_query(
        [(should, tantivy.Query.term_query(SCHEMA, "text", term)) for term in terms]
    )


def _within(query: tantivy.Query, field: str, values: list[str]) -> tantivy.Query:
    """``query`` limited to documents whose ``field`` is one of ``values`` (score unchanged)."""
    must = tantivy.Occur.Must
    among = tantivy.Query.term_set_query(SCHEMA, field, values)
    allowed = tantivy.Query.const_score_query(among, 0)
    return tantivy.Query.boolean_query([(must, query), (must, allowed)])


def _document(chunk: Document) -> tantivy.Document:
    return tantivy.Document(
        chunk_id=chunk.id or "",
        source=chunk.metadata["source"],
        metadata=json.dumps(chunk.metadata),
        text=chunk.page_content,
    )


def _legacy_rows(path: Path) -> list[Document]:
    """The chunks of an SQLite FTS5 index as qa-bot wrote it before (any version); none when
    there is no such file."""
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT chunk_id, source, metadata, text FROM chunks").fetchall()
    return [
        Document(id=chunk_id, page_content=text, metadata=json.loads(meta))
        for chunk_id, _, meta, text in rows
    ]


class LexicalIndex:
    """Chunks with their ids, sources and metadata, searched by BM25 (tantivy)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._index = tantivy.Index(SCHEMA, path=str(path))
        self._index.register_tokenizer(TOKENIZER, ANALYZER)
        self._writing = threading.Lock()
        legacy = path.with_suffix(".sqlite")
        if legacy.exists():
            self.update(_legacy_rows(legacy), set())
            for file in (legacy, *legacy.parent.glob(f"{legacy.name}-*")):
                file.unlink(missing_ok=True)

    def _searcher(self) -> tantivy.Searcher:
        """A searcher on the latest commit (of any process)."""
        self._index.reload()
        return self._index.searcher()

    @contextlib.contextmanager
    def _writer(self) -> Iterator[tantivy.IndexWriter]:
        """A writer whose changes are committed together when the block ends (rolled back if
        it raises); waits while another process writes."""
        with self._writing:
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    writer = self._index.writer(heap_size=WRITER_HEAP, num_threads=1)
                    break
                except ValueError as busy:
                    if "LockBusy" not in str(busy) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            try:
                yield writer
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()  # releases the lock

    def _counts(self, field: str) -> dict[str, int]:
        """Every value ``field`` holds in a live chunk, with the number of those chunks."""
        searcher = self._searcher()
        found = searcher.terms_with_prefix(field, "", filter_query=tantivy.Query.all_query())
        return {term: count for term, count in found if count}

    def _values(self, field: str) -> set[str]:
        """Every value ``field`` holds in a live chunk."""
        return set(self._counts(field))

    def chunk_counts(self) -> dict[str, int]:
        """The number of chunks of every document in the index."""
        return self._counts("source")

    def ids(self) -> set[str]:
        """Ids of every chunk in the index."""
        return self._values("chunk_id")

    def documents(self) -> set[str]:
        """Every document with chunks in the index."""
        return self._values("source")

    def replace(self, documents: dict[str, list[Document]]) -> None:
        """Make each document's chunks those given (none: the document is removed), in one
        commit."""
        with self._writer() as writer:
            for source, chunks in documents.items():
                writer.delete_documents_by_term("source", source)
                self._add(writer, chunks)

    def update(self, added: list[Document], removed: set[str]) -> None:
        """Add chunks (replacing any of the same id) and remove others by id, in one commit."""
        with self._writer() as writer:
            for chunk_id in sorted(removed):
                writer.delete_documents_by_term("chunk_id", chunk_id)
            self._add(writer, added)

    @staticmethod
    def _add(writer: tantivy.IndexWriter, chunks: Iterable[Document]) -> None:
        for chunk in chunks:
            writer.delete_documents_by_term("chunk_id", chunk.id or "")
            writer.add_document(_document(chunk))

    def search(self, question: str, k: int, only: list[str] | None = None) -> list[Document]:
        """The ``k`` best chunks by BM25 (of the documents ``only`` names, when given), each
        with ``bm25`` (higher is better) in its metadata."""
        terms = _terms(question)
        if not terms or only == [] or k < 1:
            return []
        query = _any_of(terms) if only is None else _within(_any_of(terms), "source", only)
        searcher = self._searcher()
        found = []
        for score, address in searcher.search(query, k).hits:
            stored = searcher.doc(address)
            meta = json.loads(stored["metadata"][0])
            found.append(
                Document(
                    id=stored["chunk_id"][0],
                    page_content=stored["text"][0],
                    metadata={**meta, "bm25": score},
                )
            )
        return found

    def scores(self, question: str, ids: list[str]) -> dict[str, float]:
        """BM25 scores of the given chunks (absent: the chunk shares no word with the question)."""
        terms, wanted = _terms(question), sorted(set(ids))
        if not terms or not wanted:
            return {}
        searcher = self._searcher()
        hits = searcher.search(_within(_any_of(terms), "chunk_id", wanted), len(wanted)).hits
        return {searcher.doc(address)["chunk_id"][0]: score for score, address in hits}

    def drop(self) -> None:
        """Delete the index folder."""
        shutil.rmtree(self.path, ignore_errors=True)
