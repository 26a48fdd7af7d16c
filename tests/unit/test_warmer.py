"""The sentence warmer of `qa-bot serve`: after an ingest, every chunk's sentences are in the
cache before the first question, which then embeds none of them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from qa_bot.chain import QaChain
from qa_bot.ingest import ingest
from qa_bot.storage.store import Store
from qa_bot.storage.warmer import SentenceWarmer
from tests.conftest import REPO, write_folder
from tests.unit.conftest import unit_settings


def _cached(store: Store) -> int:
    with sqlite3.connect(store.sentence_embeddings.path) as db:
        return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])


def test_sentences_are_warm_before_the_first_question(tmp_path: Path) -> None:
    store = Store.open(unit_settings(tmp_path / "data"))
    ingest(store, REPO / "corpus")
    warmer = SentenceWarmer(lambda: store)
    assert _cached(store) == 0  # ingest no longer embeds sentences
    read = warmer.warm_if_changed()
    assert read > 20 and _cached(store) > 20
    assert warmer.warm_if_changed() == 0  # nothing changed since
    warmed = _cached(store)
    chain = QaChain(store)
    assert chain.retrieve("What did TSMC decide?")  # the reranker reads sentences
    assert _cached(store) == warmed  # all of them were there already
    ingest(store, write_folder(tmp_path / "menu", {"menu.txt": "Soup is served on Thursday."}))
    assert warmer.warm_if_changed() == read + 1  # a write changes the generation
    assert _cached(store) == warmed + 1
