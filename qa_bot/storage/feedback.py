"""Thumbs up / down on answers, kept in the database with the question, the answer and its
citations, so a team can review what users disliked; a verdict on a logged question names it
by ``question_id`` (docs/question-log.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import (
    Column,
    Delete,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from qa_bot.config import Settings
from qa_bot.records import Citation
from qa_bot.storage.database import database_url, engine, reaching

Rating = Literal["up", "down"]
MAX_LISTED = 1000
"""Most verdicts one listing returns (the newest)."""


class Feedback(BaseModel):
    """One verdict on one answer."""

    rating: Rating
    question: str = Field(max_length=4000)
    answer: str = Field(max_length=20000)
    citations: list[Citation] = Field(default_factory=list, max_length=50)
    comment: str | None = Field(None, max_length=2000)
    question_id: str | None = Field(
        None,
        max_length=64,
        description="The answer's question_id: the verdict is also kept with that question in "
        "the question log when the caller asked it. Listed, it is set only on a verdict that "
        "rated its question (its asker's own).",
    )


_metadata = MetaData()
_feedback = Table(
    "feedback",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("created", Text),
    Column("rating", Text),
    Column("question", Text),
    Column("answer", Text),
    Column("citations", Text),
    Column("comment", Text),
    Column("question_id", String(64)),  # the logged question it rated, if any
)
_by_question = Index("feedback_question_id", _feedback.c.question_id)


def _columns(db: Engine) -> set[str]:
    return {column["name"] for column in inspect(db).get_columns("feedback")}


def _add_question_id(db: Engine) -> None:
    """A feedback table made before verdicts named their question gets the column and its
    index; another process (a replica, the CLI) adding them at the same moment is fine."""
    if "question_id" in _columns(db):
        return
    try:
        with db.begin() as conn:
            conn.execute(text("ALTER TABLE feedback ADD COLUMN question_id VARCHAR(64)"))
    except DBAPIError:  # added meanwhile by another process
        if "question_id" not in _columns(db):
            raise
    try:
        _by_question.create(db, checkfirst=True)
    except DBAPIError:  # the same race for the index
        if _by_question.name not in {i["name"] for i in inspect(db).get_indexes("feedback")}:
            raise


class FeedbackStore:
    """An append-only table of ``Feedback`` rows in the database (``feedback.sqlite`` in the
    data dir unless ``store.database_url`` names a shared one)."""

    @classmethod
    def beside(cls, settings: Settings) -> FeedbackStore:
        """The store the settings name."""
        return cls(database_url(settings, "feedback.sqlite"))

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine(url)
        with reaching(url):
            _metadata.create_all(self.engine)
            _add_question_id(self.engine)

    def add(self, item: Feedback) -> int:
        """Store one verdict; return its id."""
        row = {
            "created": datetime.now(UTC).isoformat(timespec="microseconds"),
            "rating": item.rating,
            "question": item.question,
            "answer": item.answer,
            "citations": json.dumps([c.model_dump() for c in item.citations]),
            "comment": item.comment,
            "question_id": item.question_id,
        }
        with reaching(self.url), self.engine.begin() as db:
            key = db.execute(insert(_feedback).values(row)).inserted_primary_key
        return int(key[0]) if key else 0

    def all(self, limit: int = MAX_LISTED) -> list[Feedback]:
        """The newest ``limit`` verdicts, oldest first."""
        newest = select(_feedback).order_by(_feedback.c.id.desc()).limit(limit).subquery()
        query = select(newest).order_by(newest.c.id)
        with reaching(self.url), self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [
            Feedback(
                rating=row["rating"],
                question=row["question"],
                answer=row["answer"],
                citations=json.loads(row["citations"]),
                comment=row["comment"],
                question_id=row["question_id"],
            )
            for row in rows
        ]


def expired_verdicts(cutoff: str) -> Delete:
    """The deletion of verdicts on logged questions given before ``cutoff`` (ISO 8601, UTC):
    they hold the question and its answer, so they go with the log's retention."""
    return delete(_feedback).where(
        _feedback.c.question_id.is_not(None), _feedback.c.created < cutoff
    )
