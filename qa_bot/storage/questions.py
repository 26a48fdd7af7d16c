"""The question log: each question asked through the server, who asked it (a key's name, a
proxy user, ``local``, ``anonymous``; never a key, a cookie or a header), its answer and
citations, the feedback it got and how long it took. Kept ``server.question_log_days`` days in
the feedback database (``feedback.sqlite``, or ``store.database_url``); admins read it
(docs/question-log.md)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Float,
    MetaData,
    RowMapping,
    Select,
    String,
    Table,
    Text,
    delete,
    insert,
    or_,
    select,
    update,
)

from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.records import Citation
from qa_bot.storage.database import database_url, engine, reaching
from qa_bot.storage.feedback import FeedbackStore, Rating, expired_verdicts

MAX_TEXT = 4000
"""Longest question, history turn or expected answer kept, in characters."""
MAX_ANSWER = 20000
MAX_CITATIONS = 50
MAX_QUOTE = 2000
MAX_NAME = 200
MAX_LIMIT = 1000
"""Most questions one listing returns; a larger ``limit`` is capped."""
DEFAULT_LIMIT = 100
SWEEP_EVERY = 3600.0
"""Seconds between two deletions of expired questions by one process (also done at start)."""
FILTERS = ("refused", "rating", "since", "source", "limit")
_AGE = re.compile(r"([0-9]{1,5})\s*([hdw])", re.IGNORECASE)
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def stamp(moment: datetime) -> str:
    """A moment as stored: ISO 8601 in UTC with microseconds, so text order is time order."""
    when = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


class LoggedQuestion(BaseModel):
    """One question as the log keeps it."""

    id: str = Field(description="The question's id (also in the server's log line).")
    created: str = Field(
        default_factory=lambda: stamp(datetime.now(UTC)), description="When (ISO 8601, UTC)."
    )
    asker: str = Field(description="Who asked: a key's name, a proxy user, local, anonymous.")
    question: str
    history: list[tuple[str, str | None]] = Field(
        default_factory=list, description="The earlier turns the chain read, oldest first."
    )
    answer: str
    refused: bool
    citations: list[Citation] = Field(default_factory=list)
    rating: Rating | None = Field(None, description="The asker's last thumbs up or down.")
    latency_ms: float = Field(description="Milliseconds from the question to its answer.")
    answerer: str

    @property
    def sources(self) -> list[str]:
        """The documents its citations name, in order, once each."""
        return list(dict.fromkeys(c.source for c in self.citations))

    def bounded(self) -> LoggedQuestion:
        """This question with every text cut to what the log keeps."""
        return self.model_copy(
            update={
                "asker": self.asker[:MAX_NAME],
                "question": self.question[:MAX_TEXT],
                "history": [(u[:MAX_TEXT], a and a[:MAX_ANSWER]) for u, a in self.history],
                "answer": self.answer[:MAX_ANSWER],
                "citations": [
                    c.model_copy(update={"quote": c.quote[:MAX_QUOTE], "title": c.title[:MAX_NAME]})
                    for c in self.citations[:MAX_CITATIONS]
                ],
            }
        )


def parse_since(text: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``2w`` before ``now``, or a date (``2025-01-31``, UTC) or ISO time
    (in UTC from year 1 to 9999: one that is not, such as ``0001-01-01T00:00+01:00``, is
    refused like any other wrong value)."""
    try:
        if found := _AGE.fullmatch(text.strip()):
            return now - timedelta(**{_UNITS[found[2].lower()]: int(found[1])})
        moment = datetime.fromisoformat(text.strip())
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise QaBotError(
            f"since must be a date such as 2025-01-31 or an age such as 7d, 12h or 2w "
            f"(it was '{_shown(text)}')."
        ) from None


def _shown(text: str) -> str:
    """A client's value as an error sentence quotes it: 40 characters, no control ones."""
    return _CONTROL.sub("?", text[:40])


def _choice(name: str, text: str, allowed: Sequence[str]) -> str:
    if text not in allowed:
        raise QaBotError(f"{name} must be {' or '.join(allowed)} (it was '{_shown(text)}').")
    return text


def _flag(text: str) -> bool:
    return _choice("refused", text, ("true", "false")) == "true"


def _rating(text: str) -> Rating:
    return "up" if _choice("rating", text, ("up", "down")) == "up" else "down"


def _limit(text: str) -> int:
    """A whole number from 1, capped at ``MAX_LIMIT``: ASCII digits only (``isdigit`` takes
    "²", which ``int`` refuses), and never more than 9 of them read (``int`` refuses 4,301)."""
    digits = text.lstrip("0")
    if not _DIGITS.fullmatch(text) or not digits:
        raise QaBotError(f"limit must be a whole number from 1 (it was '{_shown(text)}').")
    return MAX_LIMIT if len(digits) > 9 else min(int(digits), MAX_LIMIT)


def _source(text: str) -> str:
    """A document or folder name as typed: control characters (a newline would match across
    two cited documents, a NUL breaks PostgreSQL) are refused."""
    if _CONTROL.search(text):
        raise QaBotError("source must be a document or folder name, without control characters.")
    return text[:MAX_TEXT]


@dataclass(frozen=True)
class QuestionFilter:
    """Which questions to list: refused or not, rated up or down, asked since, citing a
    document (or any document of a folder); at most ``limit``, newest first."""

    refused: bool | None = None
    rating: Rating | None = None
    since: datetime | None = None
    source: str | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, values: Mapping[str, str], now: datetime | None = None) -> QuestionFilter:
        """The filter named by text values (query parameters, CLI options, the Questions
        tab); blank ones are unset. An unknown name or value is one sentence."""
        given = {name: text.strip() for name, text in values.items() if text.strip()}
        if unknown := sorted(set(given) - set(FILTERS)):
            raise QaBotError(f"Unknown filter '{_shown(unknown[0])}': use {', '.join(FILTERS)}.")
        refused, rating, since = (given.get(name) for name in ("refused", "rating", "since"))
        return cls(
            refused=_flag(refused) if refused else None,
            rating=_rating(rating) if rating else None,
            since=parse_since(since, now or datetime.now(UTC)) if since else None,
            source=_source(given["source"]) if "source" in given else None,
            limit=_limit(given.get("limit", str(DEFAULT_LIMIT))),
        )

    @classmethod
    def chosen(
        cls,
        refused: bool = False,
        down: bool = False,
        since: str | None = None,
        source: str | None = None,
        limit: int | None = None,
    ) -> QuestionFilter:
        """The filter of the CLI's options and the Questions tab's boxes: refused only, thumbs
        down only, since, source, limit."""
        values = {
            "refused": "true" if refused else "",
            "rating": "down" if down else "",
            "since": since or "",
            "source": source or "",
            "limit": "" if limit is None else str(limit),
        }
        return cls.parse(values)

    def params(self) -> dict[str, str]:
        """The filter as ``/api/questions`` query parameters."""
        values = {
            "refused": None if self.refused is None else str(self.refused).lower(),
            "rating": self.rating,
            "since": None if self.since is None else stamp(self.since),
            "source": self.source,
            "limit": str(self.limit),
        }
        return {name: value for name, value in values.items() if value is not None}


_metadata = MetaData()
_questions = Table(
    "questions",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("created", String(40), index=True),
    Column("asker", Text),
    Column("question", Text),
    Column("history", Text),
    Column("answer", Text),
    Column("refused", Boolean),
    Column("citations", Text),
    Column("sources", Text),  # "\n" + each cited document + "\n": what ``source=`` matches
    Column("rating", String(8)),
    Column("latency_ms", Float),
    Column("answerer", Text),
)


def _row(item: LoggedQuestion) -> dict[str, Any]:
    row = item.model_dump(exclude={"history", "citations"})
    row["history"] = json.dumps(item.history)
    row["citations"] = json.dumps([c.model_dump() for c in item.citations])
    row["sources"] = "\n" + "".join(f"{source}\n" for source in item.sources)
    return row


def _item(row: RowMapping) -> LoggedQuestion:
    fields = {k: v for k, v in row.items() if k != "sources"}
    fields |= {"history": json.loads(row["history"]), "citations": json.loads(row["citations"])}
    return LoggedQuestion.model_validate(fields)


def _citing(source: str) -> ColumnElement[bool]:
    """Questions citing the document ``source``, or a document in the folder ``source``."""
    column = _questions.c.sources
    folder = source.rstrip("/") + "/"
    return or_(
        column.contains(f"\n{source}\n", autoescape=True),
        column.contains(f"\n{folder}", autoescape=True),
    )


class QuestionLog:
    """The ``questions`` table; questions older than ``days`` are deleted at start and on
    writes (at most hourly) and never read."""

    @classmethod
    def beside(cls, settings: Settings) -> QuestionLog:
        """The log the settings name: in the feedback database."""
        return cls(database_url(settings, "feedback.sqlite"), settings.server.question_log_days)

    def __init__(self, url: str, days: int) -> None:
        self.url = url
        self.days = days
        self.engine = engine(url)
        self.feedback = FeedbackStore(url)  # the verdicts, which expire with the questions
        with reaching(url):
            _metadata.create_all(self.engine)
        self.sweep()

    def _cutoff(self, now: datetime | None = None) -> str:
        return stamp((now or datetime.now(UTC)) - timedelta(days=self.days))

    def sweep(self, now: datetime | None = None) -> int:
        """Delete the questions past the retention, and the verdicts that rated them; how
        many questions went."""
        self._swept = time.monotonic()
        cutoff = self._cutoff(now)
        expired = delete(_questions).where(_questions.c.created < cutoff)
        with reaching(self.url), self.engine.begin() as db:
            db.execute(expired_verdicts(cutoff))
            return db.execute(expired).rowcount

    def add(self, item: LoggedQuestion) -> None:
        """Keep one question (its texts cut to the bounds)."""
        with reaching(self.url), self.engine.begin() as db:
            db.execute(insert(_questions).values(_row(item.bounded())))
        if time.monotonic() - self._swept > SWEEP_EVERY:
            self.sweep()

    def rate(self, question_id: str, asker: str, rating: Rating) -> LoggedQuestion | None:
        """Record ``asker``'s verdict on their own question and return it; None when no kept
        question of theirs has that id (another's question is never changed)."""
        mine = (
            _questions.c.id == question_id,
            _questions.c.asker == asker,
            _questions.c.created >= self._cutoff(),
        )
        with reaching(self.url), self.engine.begin() as db:
            if db.execute(update(_questions).where(*mine).values(rating=rating)).rowcount != 1:
                return None
            return _item(db.execute(select(_questions).where(*mine)).mappings().one())

    def asked_by(self, question_id: str, asker: str) -> LoggedQuestion | None:
        """The kept question with this id when ``asker`` asked it, else None."""
        query = select(_questions).where(
            _questions.c.id == question_id,
            _questions.c.asker == asker,
            _questions.c.created >= self._cutoff(),
        )
        found = self._read(query)
        return found[0] if found else None

    def find(self, wanted: QuestionFilter) -> list[LoggedQuestion]:
        """The kept questions ``wanted`` selects, newest first."""
        c = _questions.c
        since = max(self._cutoff(), stamp(wanted.since)) if wanted.since else self._cutoff()
        query = select(_questions).where(c.created >= since)
        if wanted.refused is not None:
            query = query.where(c.refused == wanted.refused)
        if wanted.rating is not None:
            query = query.where(c.rating == wanted.rating)
        if wanted.source is not None:
            query = query.where(_citing(wanted.source))
        query = query.order_by(c.created.desc(), c.id).limit(wanted.limit)
        return self._read(query)

    def picked(self, ids: Sequence[str]) -> list[LoggedQuestion]:
        """The kept questions with these ids, in that order; an unknown id is one sentence."""
        query = select(_questions).where(
            _questions.c.id.in_(ids), _questions.c.created >= self._cutoff()
        )
        found = {q.id: q for q in self._read(query)}
        if missing := [i for i in ids if i not in found]:
            raise QaBotError(
                f"No logged question has the id '{missing[0][:64]}' (questions are kept "
                f"{self.days} days): list them again."
            )
        return [found[i] for i in ids]

    def _read(self, query: Select[Any]) -> list[LoggedQuestion]:
        with reaching(self.url), self.engine.connect() as db:
            return [_item(row) for row in db.execute(query).mappings()]
