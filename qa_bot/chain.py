"""The one chain every face calls: question -> retrieve -> answer, whole or streamed."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, NamedTuple, TypedDict, Unpack

from langchain_core.documents import Document

from qa_bot.answer import Answerer
from qa_bot.answer.related import related_passages
from qa_bot.answer.verify import without_instructions
from qa_bot.config import MAX_TOP_K, MIN_TOP_K, Settings
from qa_bot.errors import BadQuestionError, IndexNotReadyError, QaBotError, StoreUnavailableError
from qa_bot.followup import History
from qa_bot.metrics import QuestionRun
from qa_bot.records import Answer
from qa_bot.registry import ANSWERERS
from qa_bot.retrieval import HybridRetriever
from qa_bot.retrieval.filters import select_documents
from qa_bot.retrieval.rerank import Reranker, make_reranker
from qa_bot.storage.questions import LoggedQuestion, QuestionLog
from qa_bot.storage.restrictions import (
    Groups,
    SourceGroups,
    hidden_sources,
    readable_documents,
    source_of,
)
from qa_bot.storage.store import Store

log = logging.getLogger(__name__)

_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (tab and newline excepted) and lone surrogates: never part of a question."""


def check_question(question: str, limit: int) -> str:
    """The question without control characters, stripped; raises a user-facing error when it
    is empty, has no words, or is too long (it is never silently cut)."""
    question = _INVISIBLE.sub("", question).strip()
    if not question:
        raise BadQuestionError("The question is empty: type a question about your documents.")
    if not any(ch.isalnum() for ch in question):
        raise BadQuestionError("The question has no words: type a question about your documents.")
    if len(question) > limit:
        raise BadQuestionError(
            f"The question is too long ({len(question)} characters; the limit is {limit}): "
            "shorten it."
        )
    return question


class Options(TypedDict, total=False):
    """Per-question options: ``top_k`` chunks handed to the answerer, and the ``answerer``
    (a registered name); unset, the configured ones. ``asker``: who asks, by the name the
    server knows them by (a key's name, a proxy user); their question is kept in the question
    log when ``server.question_log`` is on. The CLI and the evals name nobody. ``groups``: the
    caller's groups, so only the sources open to everyone and those restricted to one of these
    groups are searched (``readable``); None (unset) reads every source: admins, the CLI and the
    evals. The server passes it from one place per face, with ``asker``."""

    top_k: int | None
    answerer: str | None
    asker: str | None
    groups: Groups | None


class Asked(NamedTuple):
    """A question as it came in, with who asked it (None: nobody to log it for)."""

    question: str
    history: History | None
    asker: str | None


def check_top_k(top_k: int | None, default: int) -> int:
    """``top_k`` (default: the configured one) when it is within bounds; otherwise a
    user-facing error."""
    if top_k is None:
        return default
    if not MIN_TOP_K <= top_k <= MAX_TOP_K:
        raise BadQuestionError(
            f"top_k must be between {MIN_TOP_K} and {MAX_TOP_K} chunks (it was {top_k})."
        )
    return top_k


class QaChain:
    """Retrieval and answering over one store; build once, call from any face or thread.

    Every call takes the question and, optionally, the chat ``history`` (a follow-up is made
    standalone before retrieval), ``only`` (file, folder or glob filters), ``top_k`` (chunks
    handed to the answerer) and ``answerer`` (a registered name): per-call options, so no call
    builds a chain. The configured answerer is built with the chain; others on first use;
    each is kept by name, as the rerankers are.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        _rerankers: dict[str, Reranker | None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or store.settings
        self._rerankers = {} if _rerankers is None else _rerankers  # shared by every variant
        self._answerers: dict[str, Answerer] = {}
        self._building = threading.Lock()
        self._variants: dict[str, QaChain] = {}
        store.sync_lexical()
        self.retriever = HybridRetriever.from_settings(
            store, self.settings, reranker=self._reranker()
        )
        self.answerer_named(None)  # the configured one is ready (or fails) now, not at a question

    @property
    def answerer(self) -> Answerer:
        """The configured answerer."""
        return self.answerer_named(None)

    def answerer_named(self, name: str | None) -> Answerer:
        """The answerer registered as ``name`` (default: the configured one), built once."""
        name = ANSWERERS.check(name or self.settings.answer.answerer)
        answerers = self._answerers  # a swap replaces the dict: this call keeps its own
        if (found := answerers.get(name)) is None:
            with self._building:  # one thread builds it; the others wait and share it
                if (found := answerers.get(name)) is None:
                    found = answerers[name] = ANSWERERS.get(name)(self.settings, self.store)
        return found

    def swap(self, store: Store) -> None:
        """Answer from ``store`` from now on (after a rebuild); calls under way finish on the
        old one."""
        self.store = store
        self._rerankers.clear()
        self._answerers = {}
        self._variants.clear()
        self.retriever = HybridRetriever.from_settings(
            store, self.settings, reranker=self._reranker()
        )
        self.answerer_named(None)

    def _reranker(self) -> Reranker | None:
        """The configured reranker, built once for this chain and all its variants."""
        name = self.settings.retrieval.reranker
        if name not in self._rerankers:
            self._rerankers[name] = make_reranker(self.settings, self.store)
        return self._rerankers[name]

    def variant(self, **sections: dict[str, Any]) -> QaChain:
        """This chain with some settings changed (``retrieval={"mode": "bm25"}``,
        ``openai={"timeout": 5}``…), on the same store and rerankers; built once per
        combination. Per-question options (``top_k``, ``answerer``) need no variant."""
        settings = self.settings.updated(**sections)
        if settings == self.settings:
            return self
        key = settings.model_dump_json()
        if key not in self._variants:
            self._variants[key] = QaChain(self.store, settings, _rerankers=self._rerankers)
        return self._variants[key]

    def standalone(
        self, question: str, history: History | None = None, answerer: str | None = None
    ) -> str:
        """The question as retrieval sees it; raises a user-facing error when it cannot be
        asked (empty or too long); the history is cut to its recent turns (``_recent``)."""
        question = check_question(question, self.settings.answer.max_question_chars)
        return self.answerer_named(answerer).standalone(question, self._recent(history))

    def _recent(self, history: History | None) -> History:
        """The last ``answer.max_history_turns`` turns without control characters: the one
        place the history is cut."""
        keep = self.settings.answer.max_history_turns
        turns = (history or [])[-keep:] if keep else []
        return [
            (_INVISIBLE.sub("", user), reply and _INVISIBLE.sub("", reply)) for user, reply in turns
        ]

    @cached_property
    def source_groups(self) -> SourceGroups:
        """Which groups may read each restricted source: kept beside the store's catalog,
        where ``KnowledgeBase`` sets them (opened on first use)."""
        return SourceGroups.beside(self.store.settings)

    def readable(self, groups: Groups | None) -> list[str] | None:
        """The documents a caller in ``groups`` may read; None when no source is hidden from
        them (``groups`` None: an admin, the CLI). The one rule every face asks, through this
        chain: retrieval, the source viewer, the document list and ``/healthz``."""
        if groups is None:
            return None
        restrictions = self.source_groups.all()
        if not hidden_sources(restrictions, groups):
            return None  # the documents are not listed at all
        return readable_documents(self.store.documents(), restrictions, groups)

    def may_read(self, document: str, groups: Groups | None) -> bool:
        """True when a caller in ``groups`` may read ``document``."""
        if groups is None:
            return True
        return source_of(document) not in hidden_sources(self.source_groups.all(), groups)

    def _within(self, only: list[str] | None, groups: Groups | None) -> list[str] | None:
        """The documents one call searches: the caller's readable ones, narrowed by ``only``
        (patterns matched among the readable documents alone, so a pattern naming only hidden
        ones is the same error as one naming none); None: every document."""
        readable = self.readable(groups)
        if only is None:
            return readable
        return select_documents(only, self.store.documents() if readable is None else set(readable))

    @cached_property
    def question_log(self) -> QuestionLog:
        """Where the questions of named askers are kept (opened on first use)."""
        return QuestionLog.beside(self.settings)

    def _answered(
        self, run: QuestionRun, answer: Answer, chunks: list[Document], asked: Asked
    ) -> Answer:
        """The answer cleaned of instructions, counted and logged, a refusal with the passages
        related to the question (among ``chunks``: the caller's own); kept in the question log,
        with its id, when someone named asked and the log is on."""
        answer = run.answered(without_instructions(answer), chunks)
        if answer.refused:
            related = related_passages(asked.question, chunks)
            answer = answer.model_copy(update={"related": related})
        if asked.asker is None or not self.settings.server.question_log:
            return answer
        entry = LoggedQuestion(
            id=run.id,
            asker=asked.asker,
            question=check_question(asked.question, self.settings.answer.max_question_chars),
            history=self._recent(asked.history),
            answer=answer.answer,
            refused=answer.refused,
            citations=answer.citations,
            latency_ms=run.total_ms,
            answerer=run.answerer,
        )
        try:
            self.question_log.add(entry)
        except StoreUnavailableError as error:  # the answer matters more than its record
            log.warning("question %s not logged: %s", run.id, error)
            return answer
        return answer.model_copy(update={"question_id": run.id})

    @contextmanager
    def _observed(self, options: Options) -> Iterator[QuestionRun]:
        """One question's run, its options checked; a user-facing error is counted and
        logged on its way out."""
        run = QuestionRun(options.get("answerer") or self.settings.answer.answerer)
        try:
            run.k = check_top_k(options.get("top_k"), self.settings.retrieval.top_k)
            yield run
        except QaBotError as error:
            run.failed(error)
            raise

    def _prepare(
        self,
        run: QuestionRun,
        question: str,
        history: History | None,
        only: list[str] | None,
        groups: Groups | None,
    ) -> tuple[str, list[Document], Answerer]:
        """The one route every call takes: the question made standalone, the chunks
        retrieved from the documents the caller may read (``groups``; filtered inside each
        search, before anything is scored); returns them with the answerer that will write
        the answer."""
        chosen = self.answerer_named(run.answerer)
        query = self.standalone(question, history, run.answerer)
        run.lap("standalone")
        chunks = self.retriever.invoke(query, k=run.k, within=self._within(only, groups))
        if not chunks and self.store.count() == 0:  # counted only then: 15 ms at 100k chunks
            raise IndexNotReadyError(
                "The index is empty: run `qa-bot ingest` to add your documents first."
            )
        run.lap("retrieve")
        return query, chunks, chosen

    def ask(
        self,
        question: str,
        history: History | None = None,
        only: list[str] | None = None,
        **options: Unpack[Options],
    ) -> Answer:
        """Answer one question."""
        answer: Answer = self.trace(question, history, only, **options)["answer"]
        return answer

    def trace(
        self,
        question: str,
        history: History | None = None,
        only: list[str] | None = None,
        **options: Unpack[Options],
    ) -> dict[str, Any]:
        """The whole run: ``question`` (standalone), ``chunks`` retrieved and ``answer``."""
        asked = Asked(question, history, options.get("asker"))
        with self._observed(options) as run:
            query, chunks, chosen = self._prepare(
                run, question, history, only, options.get("groups")
            )
            answer = self._answered(run, chosen.answer(query, chunks), chunks, asked)
            return {"question": query, "chunks": chunks, "answer": answer}

    def retrieve(
        self,
        question: str,
        history: History | None = None,
        only: list[str] | None = None,
        *,
        top_k: int | None = None,
        groups: Groups | None = None,
    ) -> list[Document]:
        """The chunks the answer would be written from, best first, with scores."""
        with self._observed({"top_k": top_k}) as run:
            return self._prepare(run, question, history, only, groups)[1]

    def stream(
        self,
        question: str,
        history: History | None = None,
        only: list[str] | None = None,
        **options: Unpack[Options],
    ) -> Iterator[str | Answer]:
        """Yield pieces of the answer text, then the final Answer."""
        asked = Asked(question, history, options.get("asker"))
        with self._observed(options) as run:
            query, chunks, chosen = self._prepare(
                run, question, history, only, options.get("groups")
            )
            for piece in chosen.stream(query, chunks):
                if isinstance(piece, Answer):
                    yield self._answered(run, piece, chunks, asked)
                else:
                    yield piece
