"""BM25 at 100k chunks, alone: its top-20 search (the first stage) and the scores of 20 given
chunks (what the reranker looks up for chunks only dense search found), with the time to
index them.

    .venv/bin/python -m bench.bm25_scores      # about a minute; needs python3.11-doc

Prints p50/p95 in ms over 50 known-item questions.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from langchain_core.documents import Document

from bench.scale import PYDOCS
from qa_bot.ingest.loaders import load_file
from qa_bot.ingest.split import split_documents
from qa_bot.storage.bm25 import LexicalIndex
from qa_bot.text import chunk_sentences

SIZE = 100_000


def main() -> None:
    pages = sorted((PYDOCS / "library").rglob("*.txt"))[:120]
    chunks = [c for page in pages for c in split_documents(load_file(page, page.name), 800, 200)]
    copies = SIZE // len(chunks) + 1
    docs = [
        Document(
            id=f"{i}-{copy}",
            page_content=chunk.page_content,
            metadata={**chunk.metadata, "source": f"copy{copy}/{chunk.metadata['source']}"},
        )
        for copy in range(copies)
        for i, chunk in enumerate(chunks)
    ][:SIZE]
    index = LexicalIndex(Path(tempfile.mkdtemp()) / "bm25")
    started = time.perf_counter()
    index.update(docs, set())
    print(
        f"{len(docs):,} chunks ({len(chunks):,} real, copied) indexed in "
        f"{time.perf_counter() - started:.1f} s"
    )
    rng = random.Random(0)
    questions: list[str] = []
    while len(questions) < 50:
        sentences = [s.text.split() for s in chunk_sentences(rng.choice(chunks))]
        prose = [words for words in sentences if 8 <= len(words) <= 40]
        if prose:
            questions.append(" ".join(rng.choice(prose)[:12]))
    ids = [d.id or "" for d in docs]
    calls: dict[str, Callable[[str], object]] = {
        "search, top 20": lambda q: index.search(q, 20),
        "scores of 20 ids": lambda q: index.scores(q, rng.sample(ids, 20)),
    }
    for name, call in calls.items():
        times = []
        for question in questions:
            started = time.perf_counter()
            call(question)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(f"{name}: p50 {statistics.median(times):.1f} ms, p95 {times[47]:.1f} ms")


if __name__ == "__main__":
    main()
