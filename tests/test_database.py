"""The database beside the index: SQLite files by default, a real PostgreSQL when
``store.database_url`` names one (ingestion records, feedback and the question log, shared by
replicas)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from qa_bot.config import Settings
from qa_bot.errors import StoreUnavailableError
from qa_bot.ingest import ingest
from qa_bot.records import Citation
from qa_bot.storage.feedback import Feedback, FeedbackStore
from qa_bot.storage.questions import LoggedQuestion, QuestionFilter, QuestionLog
from qa_bot.storage.store import Store
from tests.conftest import ARTICLE, free_port, run_cli


def test_records_and_feedback_live_in_postgresql(
    postgres_url: str, corpus: Path, tmp_path: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store(store={"database_url": postgres_url})
    assert ingest(store, corpus).added == [ARTICLE]
    assert ingest(store, corpus).unchanged == [ARTICLE]  # the records were read back
    assert not (store.settings.data_path / "records.sqlite").exists()
    namespace = f"local/{store.collection_name}"
    query = text("SELECT count(*) FROM upsertion_record WHERE namespace = :n")
    with create_engine(postgres_url).connect() as db:
        rows = db.execute(query, {"n": namespace}).scalar_one()
    assert rows == store.count() > 0

    FeedbackStore.beside(store.settings).add(Feedback(rating="down", question="q", answer="a"))
    other = store.settings.updated(store={"data_dir": tmp_path / "replica"})
    assert [f.question for f in FeedbackStore.beside(other).all()][-1] == "q"
    assert not (store.settings.data_path / "feedback.sqlite").exists()


def test_the_question_log_is_shared_in_postgresql(postgres_url: str, tmp_path: Path) -> None:
    one = Settings().updated(store={"data_dir": tmp_path / "a", "database_url": postgres_url})
    question_id = uuid.uuid4().hex[:12]
    cited = Citation(
        n=1, source="uploads/50%_off.txt", title="T", quote="Q.", score=1, chunk_id="c", offset=0
    )
    QuestionLog.beside(one).add(
        LoggedQuestion(
            id=question_id,
            asker="alice",
            question="Is it on sale?",
            answer="Yes [1].",
            refused=False,
            citations=[cited],
            latency_ms=5,
            answerer="extractive",
        )
    )
    other = QuestionLog.beside(one.updated(store={"data_dir": tmp_path / "b"}))  # a replica
    assert not other.rate(question_id, "bob", "down") and other.rate(question_id, "alice", "down")
    wanted = {"rating": "down", "source": "uploads", "since": "1h"}
    assert question_id in [q.id for q in other.find(QuestionFilter.parse(wanted))]
    assert question_id not in [
        q.id for q in other.find(QuestionFilter.parse({"source": "uploads/50%"}))
    ]
    assert other.sweep(now=datetime.now(UTC) + timedelta(days=31)) >= 1
    assert other.find(QuestionFilter.parse({"since": "1h"})) == []
    assert not (tmp_path / "a" / "feedback.sqlite").exists()


def test_sqlite_files_in_the_data_dir_by_default(
    corpus: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    ingest(store, corpus)
    FeedbackStore.beside(store.settings).add(Feedback(rating="up", question="q", answer="a"))
    assert (store.settings.data_path / "records.sqlite").exists()
    assert [f.rating for f in FeedbackStore.beside(store.settings).all()] == ["up"]


def test_a_database_that_is_down_is_one_sentence_without_its_password(
    make_store: Callable[..., Store],
) -> None:
    url = f"postgresql+psycopg://qa:s3cret@127.0.0.1:{free_port()}/postgres"
    settings = make_store().settings.updated(store={"database_url": url})
    with pytest.raises(StoreUnavailableError, match="Cannot reach the database") as raised:
        FeedbackStore.beside(settings)
    assert "s3cret" not in str(raised.value) and "***" in str(raised.value)
    with pytest.raises(StoreUnavailableError, match="QA_BOT_STORE__DATABASE_URL"):
        Store.open(settings)


@pytest.mark.parametrize("url", ["postgres://qa:s3cret@db/qa", "mysql+nodriver://db/x", "::"])
def test_a_database_url_that_cannot_work_is_refused_when_settings_load(
    url: str, tmp_path: Path
) -> None:
    done = run_cli("config", data_dir=tmp_path, QA_BOT_STORE__DATABASE_URL=url)
    assert done.returncode != 0 and "database_url" in done.stderr
    assert "installed driver" in done.stderr and "s3cret" not in done.stderr
