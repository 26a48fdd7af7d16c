"""The one chain every face calls: question -> retrieve -> answer, whole or streamed."""

from __future__ import annotations

from collections.abc import Iterator

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnablePassthrough

from qa_bot.answer import Answerer
from qa_bot.answer.extractive import ExtractiveAnswerer
from qa_bot.config import Settings
from qa_bot.errors import BadQuestionError, IndexNotReadyError, QaBotError
from qa_bot.followup import History
from qa_bot.models import Answer
from qa_bot.retrieve import HybridRetriever
from qa_bot.store import Store
from qa_bot.support import SupportCheck


def make_answerer(settings: Settings, store: Store) -> Answerer:
    """The answer writer named by ``settings.generator``."""
    if settings.generator == "extractive":
        return ExtractiveAnswerer(
            store.sentence_embeddings, settings.min_support, settings.max_answer_sentences
        )
    if settings.generator == "openai":
        from qa_bot.answer.generative import GenerativeAnswerer

        return GenerativeAnswerer.from_settings(settings, SupportCheck(store.sentence_embeddings))
    raise QaBotError(
        f"Unknown generator '{settings.generator}': use 'extractive' or 'openai' "
        "(QA_BOT_GENERATOR)."
    )


def check_question(question: str, limit: int) -> str:
    """The question, stripped; raises a user-facing error when it is empty or too long."""
    question = question.strip()
    if not question:
        raise BadQuestionError("The question is empty: type a question about your documents.")
    if len(question) > limit:
        raise BadQuestionError(
            f"The question is too long ({len(question)} characters; the limit is {limit}): "
            "shorten it."
        )
    return question


class QaChain:
    """Retrieval and answering over one store; build once, call from any face or thread.

    Every call takes the question, optionally the chat ``history`` (a follow-up is made
    standalone before retrieval) and ``sources`` (file, folder or glob filters).
    """

    def __init__(
        self, store: Store, answerer: Answerer | None = None, settings: Settings | None = None
    ) -> None:
        self.store = store
        self.settings = settings or store.settings
        self.answerer = answerer or make_answerer(self.settings, store)
        store.sync_lexical()
        self.retriever = HybridRetriever.from_store(store, k=self.settings.top_k)
        self._variants: dict[tuple, QaChain] = {}
        self.runnable: Runnable[dict, dict] = RunnablePassthrough.assign(
            chunks=lambda x: self.retriever.invoke(x["question"], sources=x["sources"])
        ) | RunnablePassthrough.assign(
            answer=lambda x: self.answerer.answer(x["question"], x["chunks"])
        )

    def variant(self, **changes: object) -> QaChain:
        """This chain with some settings changed (``top_k``, ``generator``…), on the same
        store; built once per combination."""
        key = tuple(sorted(changes.items()))
        if key not in self._variants:
            settings = self.settings.model_copy(update=changes)
            same = settings == self.settings
            self._variants[key] = self if same else QaChain(self.store, settings=settings)
        return self._variants[key]

    def standalone(self, question: str, history: History | None = None) -> str:
        """The question as retrieval sees it; raises a user-facing error when it cannot be
        asked (empty, too long, or nothing indexed yet)."""
        question = check_question(question, self.settings.max_question_chars)
        if self.store.count() == 0:
            raise IndexNotReadyError(
                "The index is empty: run `qa-bot ingest` to add your documents first."
            )
        return self.answerer.standalone(question, history or [], self.settings.max_history_turns)

    def ask(
        self, question: str, history: History | None = None, sources: list[str] | None = None
    ) -> Answer:
        """Answer one question."""
        return self.trace(question, history, sources)["answer"]

    def trace(
        self, question: str, history: History | None = None, sources: list[str] | None = None
    ) -> dict:
        """The whole run: ``question`` (standalone), ``chunks`` retrieved and ``answer``."""
        query = self.standalone(question, history)
        return self.runnable.invoke({"question": query, "sources": sources})

    def retrieve(
        self, question: str, history: History | None = None, sources: list[str] | None = None
    ) -> list[Document]:
        """The chunks the answer would be written from, best first, with scores."""
        return self.retriever.invoke(self.standalone(question, history), sources=sources)

    def stream(
        self, question: str, history: History | None = None, sources: list[str] | None = None
    ) -> Iterator[str | Answer]:
        """Yield pieces of the answer text, then the final Answer."""
        query = self.standalone(question, history)
        chunks = self.retriever.invoke(query, sources=sources)
        yield from self.answerer.stream(query, chunks)
