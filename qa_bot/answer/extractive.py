"""The offline answerer: quotes the retrieved sentences that best answer the question."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from qa_bot.answer.base import REFUSAL, Answerer
from qa_bot.records import Answer, Citation, cite
from qa_bot.text import MIN_WORDS, bare, chunk_sentences, clauses, key_terms, stems, words

if TYPE_CHECKING:
    from qa_bot.config import Settings
    from qa_bot.storage.store import Store

SEMANTIC_WEIGHT = 0.6  # share of the sentence score from embeddings; the rest is term overlap
_STATEMENT_END = re.compile(r"[.!][\"”’')\]]*$")
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion dozen half"
)
_TIME_WORDS = (  # not "may" or "fall": in a sentence they are mostly verbs
    "january february march april june july august september october november december "
    "spring summer autumn winter century centuries decade today yesterday tomorrow"
)


def _any_word(names: str) -> re.Pattern[str]:
    """Matches a digit or any of the space-separated ``names`` (plural too) as a whole word."""
    return re.compile(rf"\d|\b(?:{'|'.join(names.split())})s?\b", re.I)


_ANSWER_FORMS = (
    (
        re.compile(
            r"\bhow (?:many|much|long|far|old|big|large|tall|high|deep|wide|fast)\b"
            r"|\bwhat (?:percent|percentage|proportion|fraction)\b",
            re.I,
        ),
        _any_word(_NUMBER_WORDS),
    ),
    (
        re.compile(r"^\s*when\b|\b(?:what|which) (?:year|century|decade|month|date)\b", re.I),
        _any_word(_TIME_WORDS),
    ),
)


def answer_form(question: str) -> re.Pattern[str] | None:
    """What any answer to ``question`` must contain: a quantity for "how many / how much …",
    a date or time for "when …"; None when the question asks for no particular form."""
    for asks, form in _ANSWER_FORMS:
        if asks.search(question):
            return form
    return None


def supported_by_retrieval(question: str, chunks: list[Document]) -> bool:
    """False when the question names something no retrieved chunk mentions as a whole word."""
    retrieved = {bare(w) for c in chunks for w in words(c.page_content)}
    return key_terms(question) <= retrieved


@dataclass
class _Candidate:
    """A sentence or clause of a retrieved chunk, located in its document."""

    text: str
    chunk: Document
    at: int
    """Where the text starts in the chunk."""
    score: float = 0.0

    @property
    def offset(self) -> int:
        """Where the text starts in the document (page)."""
        return int(self.chunk.metadata["offset"]) + self.at

    def overlaps(self, other: _Candidate) -> bool:
        """True when both quote the same stretch of the same document."""
        same_doc = self.chunk.metadata["source"] == other.chunk.metadata["source"]
        return same_doc and (
            self.chunk.metadata.get("page") == other.chunk.metadata.get("page")
            and self.offset < other.offset + len(other.text)
            and other.offset < self.offset + len(self.text)
        )


def _candidates(chunks: list[Document]) -> list[_Candidate]:
    """Declarative sentences (ending in "." or "!") and their clauses, each once (chunks
    overlap)."""
    seen: set[str] = set()
    found = []
    for chunk in chunks:
        for sentence in chunk_sentences(chunk):
            if not _STATEMENT_END.search(sentence.text) or len(sentence.text.split()) < MIN_WORDS:
                continue  # questions, headings and titles state nothing to quote
            for span in clauses(sentence):
                if span.text not in seen:
                    seen.add(span.text)
                    found.append(_Candidate(span.text, chunk, span.start))
    return found


class ExtractiveAnswerer(Answerer):
    """Scores each retrieved sentence by meaning (embeddings) and shared terms, and answers with
    the best one or two, each cited. Refuses when none reaches ``min_support``."""

    def __init__(
        self,
        embeddings: Embeddings,
        min_support: float,
        max_sentences: int = 2,
        margin: float = 0.06,
    ) -> None:
        self.embeddings = embeddings
        self.min_support = min_support
        self.max_sentences = max_sentences
        self.margin = margin

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> ExtractiveAnswerer:
        """The offline answerer over the store's cached sentence vectors."""
        answer = settings.answer
        return cls(store.sentence_embeddings, answer.min_support, answer.max_sentences)

    def score(self, question: str, chunks: list[Document]) -> list[_Candidate]:
        """All candidate sentences, scored and sorted best first."""
        candidates = _candidates(chunks)
        if not candidates:
            return []
        vectors = np.array(self.embeddings.embed_documents([c.text for c in candidates]))
        semantic = vectors @ np.array(self.embeddings.embed_query(question))
        wanted = stems(question)
        for candidate, similarity in zip(candidates, semantic, strict=True):
            overlap = len(wanted & stems(candidate.text)) / len(wanted) if wanted else 0.0
            candidate.score = SEMANTIC_WEIGHT * float(similarity) + (1 - SEMANTIC_WEIGHT) * overlap
        return sorted(candidates, key=lambda c: c.score, reverse=True)

    def eligible(self, question: str, chunks: list[Document]) -> list[_Candidate]:
        """The scored sentences that could answer, best first: of the form the question asks
        for, and none when the question names something the chunks never mention."""
        if not supported_by_retrieval(question, chunks):
            return []
        form = answer_form(question)
        return [c for c in self.score(question, chunks) if form is None or form.search(c.text)]

    def _select(self, question: str, chunks: list[Document]) -> list[_Candidate]:
        """The sentences to answer with; empty when the chunks do not support an answer."""
        ranked = [c for c in self.eligible(question, chunks) if c.score >= self.min_support]
        if not ranked:
            return []
        floor = ranked[0].score - self.margin
        selected: list[_Candidate] = []
        for candidate in ranked:
            if candidate.score < floor or len(selected) == self.max_sentences:
                break
            if not any(candidate.overlaps(chosen) for chosen in selected):
                selected.append(candidate)
        return selected

    def answer(self, question: str, chunks: list[Document]) -> Answer:
        """Answer with the best-supported sentences, or refuse."""
        selected = self._select(question, chunks)
        if not selected:
            return Answer(answer=REFUSAL, refused=True)
        citations = [
            Citation.quoting(n, c.chunk, c.text, c.score, at=c.at)
            for n, c in enumerate(selected, 1)
        ]
        text = " ".join(cite(c.quote, [c.n]) for c in citations)
        return Answer(answer=text, refused=False, citations=citations)

    def stream(self, question: str, chunks: list[Document]) -> Iterator[str | Answer]:
        """Yield the answer word by word, then the Answer itself."""
        result = self.answer(question, chunks)
        yield from re.findall(r"\S+\s*", result.answer)
        yield result
