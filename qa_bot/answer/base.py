"""The interface every answer writer implements, extractive or LLM-backed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from langchain_core.documents import Document

from qa_bot.followup import History, standalone_question
from qa_bot.records import Answer

REFUSAL = "The documents do not contain an answer to this question."


class Answerer(ABC):
    """Writes an answer to a question from retrieved chunks, citing them as [n]."""

    @abstractmethod
    def answer(self, question: str, chunks: list[Document]) -> Answer:
        """Answer ``question`` from ``chunks`` (best first, ``metadata['score']`` set)."""

    def stream(self, question: str, chunks: list[Document]) -> Iterator[str | Answer]:
        """Yield pieces of the answer text as they are written, then the final Answer."""
        result = self.answer(question, chunks)
        yield result.answer
        yield result

    def standalone(self, question: str, history: History) -> str:
        """The question made standalone for retrieval (a follow-up leans on ``history``);
        without an LLM, by carrying over the earlier questions' names and content words."""
        return standalone_question(question, history)
