"""Thumbs up / down on answers, kept in the database with the question, the answer and its
citations, so a team can review what users disliked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select

from qa_bot.config import Settings
from qa_bot.records import Citation
from qa_bot.storage.database import database_url, engine, reaching

Rating = Literal["up", "down"]


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
        "the question log when the caller asked it.",
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
)


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

    def add(self, item: Feedback) -> int:
        """Store one verdict; return its id."""
        row = {
            "created": datetime.now(UTC).isoformat(),
            "rating": item.rating,
            "question": item.question,
            "answer": item.answer,
            "citations": json.dumps([c.model_dump() for c in item.citations]),
            "comment": item.comment,
        }
        with reaching(self.url), self.engine.begin() as db:
            key = db.execute(insert(_feedback).values(row)).inserted_primary_key
        return int(key[0]) if key else 0

    def all(self) -> list[Feedback]:
        """Every verdict, oldest first."""
        query = select(_feedback).order_by(_feedback.c.id)
        with reaching(self.url), self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [
            Feedback(
                rating=row["rating"],
                question=row["question"],
                answer=row["answer"],
                citations=json.loads(row["citations"]),
                comment=row["comment"],
            )
            for row in rows
        ]
