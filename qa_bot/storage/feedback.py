"""Thumbs up / down on answers, kept in SQLite beside the index with the question, the answer and
its citations, so a team can review what users disliked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from qa_bot.config import Settings
from qa_bot.records import Citation
from qa_bot.storage.sqlite import connect

Rating = Literal["up", "down"]


class Feedback(BaseModel):
    """One verdict on one answer."""

    rating: Rating
    question: str = Field(max_length=4000)
    answer: str = Field(max_length=20000)
    citations: list[Citation] = Field(default_factory=list, max_length=50)
    comment: str | None = Field(None, max_length=2000)


class FeedbackStore:
    """An append-only SQLite table of ``Feedback`` rows."""

    @classmethod
    def beside(cls, settings: Settings) -> FeedbackStore:
        """The store in the data dir: ``feedback.sqlite``."""
        return cls(settings.data_path / "feedback.sqlite")

    def __init__(self, path: Path) -> None:
        self.path = path
        with connect(self.path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, created TEXT, "
                "rating TEXT, question TEXT, answer TEXT, citations TEXT, comment TEXT)"
            )

    def add(self, item: Feedback) -> int:
        """Store one verdict; return its id."""
        citations = json.dumps([c.model_dump() for c in item.citations])
        row = (datetime.now(UTC).isoformat(), item.rating, item.question, item.answer)
        with connect(self.path) as db:
            cursor = db.execute(
                "INSERT INTO feedback (created, rating, question, answer, citations, comment) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*row, citations, item.comment),
            )
            return int(cursor.lastrowid or 0)

    def all(self) -> list[Feedback]:
        """Every verdict, oldest first."""
        with connect(self.path) as db:
            rows = db.execute(
                "SELECT rating, question, answer, citations, comment FROM feedback ORDER BY id"
            ).fetchall()
        return [
            Feedback(rating=r, question=q, answer=a, citations=json.loads(c), comment=m)
            for r, q, a, c, m in rows
        ]
