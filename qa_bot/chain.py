"""The one chain every face calls: question -> retrieve -> answer, whole or streamed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnablePassthrough

from qa_bot.answer import Answerer
from qa_bot.answer.verify import without_instructions
from qa_bot.config import Settings
from qa_bot.errors import BadQuestionError, IndexNotReadyError
from qa_bot.followup import History
from qa_bot.records import Answer
from qa_bot.registry import ANSWERERS
from qa_bot.retrieval import HybridRetriever
from qa_bot.retrieval.rerank import Reranker, make_reranker
from qa_bot.storage.store import Store

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


class QaChain:
    """Retrieval and answering over one store; build once, call from any face or thread.

    Every call takes the question, optionally the chat ``history`` (a follow-up is made
    standalone before retrieval) and ``only`` (file, folder or glob filters).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        answerer: Answerer | None = None,
        _rerankers: dict[str, Reranker | None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or store.settings
        self.answerer: Answerer = answerer or ANSWERERS.get(self.settings.answer.generator)(
            self.settings, store
        )
        self._rerankers = {} if _rerankers is None else _rerankers  # shared by every variant
        self._variants: dict[str, QaChain] = {}
        store.sync_lexical()
        self.retriever = HybridRetriever.from_settings(
            store, self.settings, reranker=self._reranker()
        )
        self.runnable: Runnable[dict[str, Any], dict[str, Any]] = RunnablePassthrough.assign(
            chunks=lambda x: self.retriever.invoke(x["question"], only=x["only"])
        ) | RunnablePassthrough.assign(
            answer=lambda x: without_instructions(self.answerer.answer(x["question"], x["chunks"]))
        )

    def swap(self, store: Store) -> None:
        """Answer from ``store`` from now on (after a rebuild); calls under way finish on the
        old one."""
        self._rerankers.clear()
        self._variants.clear()
        self.store = store
        self.answerer = ANSWERERS.get(self.settings.answer.generator)(self.settings, store)
        self.retriever = HybridRetriever.from_settings(
            store, self.settings, reranker=self._reranker()
        )

    def _reranker(self) -> Reranker | None:
        """The configured reranker, built once for this chain and all its variants."""
        name = self.settings.retrieval.reranker
        if name not in self._rerankers:
            self._rerankers[name] = make_reranker(self.settings, self.store)
        return self._rerankers[name]

    def variant(self, **sections: dict[str, Any]) -> QaChain:
        """This chain with some settings changed (``retrieval={"top_k": 3}``,
        ``answer={"generator": "openai"}``…), on the same store and rerankers; built once per
        combination."""
        settings = self.settings.updated(**sections)
        if settings == self.settings:
            return self
        key = settings.model_dump_json()
        if key not in self._variants:
            self._variants[key] = QaChain(self.store, settings, _rerankers=self._rerankers)
        return self._variants[key]

    def standalone(self, question: str, history: History | None = None) -> str:
        """The question as retrieval sees it; raises a user-facing error when it cannot be
        asked (empty, too long, or nothing indexed yet)."""
        answer = self.settings.answer
        question = check_question(question, answer.max_question_chars)
        if self.store.count() == 0:
            raise IndexNotReadyError(
                "The index is empty: run `qa-bot ingest` to add your documents first."
            )
        turns = (history or [])[-answer.max_history_turns :] if answer.max_history_turns else []
        recent = [
            (_INVISIBLE.sub("", user), reply and _INVISIBLE.sub("", reply)) for user, reply in turns
        ]
        return self.answerer.standalone(question, recent, answer.max_history_turns)

    def ask(
        self, question: str, history: History | None = None, only: list[str] | None = None
    ) -> Answer:
        """Answer one question."""
        result: Answer = self.trace(question, history, only)["answer"]
        return result

    def trace(
        self, question: str, history: History | None = None, only: list[str] | None = None
    ) -> dict[str, Any]:
        """The whole run: ``question`` (standalone), ``chunks`` retrieved and ``answer``."""
        query = self.standalone(question, history)
        return self.runnable.invoke({"question": query, "only": only})

    def retrieve(
        self, question: str, history: History | None = None, only: list[str] | None = None
    ) -> list[Document]:
        """The chunks the answer would be written from, best first, with scores."""
        return self.retriever.invoke(self.standalone(question, history), only=only)

    def stream(
        self, question: str, history: History | None = None, only: list[str] | None = None
    ) -> Iterator[str | Answer]:
        """Yield pieces of the answer text, then the final Answer."""
        query = self.standalone(question, history)
        chunks = self.retriever.invoke(query, only=only)
        for piece in self.answerer.stream(query, chunks):
            yield without_instructions(piece) if isinstance(piece, Answer) else piece
