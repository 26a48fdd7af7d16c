"""The unit tier (`make test-unit`): the real chain, store, embedded Chroma and BM25 over a
deterministic embedding model registered like a plugin; no model, no spaCy, no subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.ingest import ingest
from qa_bot.storage.store import Store
from tests.conftest import REPO
from tests.unit.fakes import HASHED, register

register()


def unit_settings(data_dir: Path, **sections: dict[str, object]) -> Settings:
    """Settings on the fake embedding model: no reader (a model), the support threshold
    lowered to the scale of hashed-word similarities."""
    answer = {"reader": False, "min_support": 0.25, **sections.pop("answer", {})}
    store = {"data_dir": data_dir, "embedding_model": HASHED, **sections.pop("store", {})}
    return Settings().updated(store=store, answer=answer, **sections)


@pytest.fixture(scope="session")
def unit_chain(tmp_path_factory: pytest.TempPathFactory) -> QaChain:
    """The default corpus ingested with the fake embedding model, behind the real chain."""
    store = Store.open(unit_settings(tmp_path_factory.mktemp("unit-data")))
    ingest(store, REPO / "corpus")
    return QaChain(store)
