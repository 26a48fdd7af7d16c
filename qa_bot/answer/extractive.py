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
from qa_bot.answer.grounding import mentioned
from qa_bot.answer.questions import (
    ENTITY_LABELS,
    Expects,
    answers_kind,
    defined_term,
    defines,
    expects,
    gives_reason,
    short_answer,
)
from qa_bot.followup import as_asked
from qa_bot.reader.answerability import Reading
from qa_bot.records import Answer, Citation, cite, location
from qa_bot.text import MIN_WORDS, chunk_sentences, clauses, key_terms, stems

if TYPE_CHECKING:
    from qa_bot.config import Settings
    from qa_bot.reader.reader import Reader
    from qa_bot.storage.store import Store

SEMANTIC_WEIGHT = 0.6  # share of the sentence score from embeddings; the rest is term overlap
READ = 12
"""With the reader: how many of the best-scored sentences it reads (one batch)."""
READER_WEIGHT = 0.5
"""With the reader: share of a sentence's rank from the reader's probability that it answers
(the rest is its score). Chosen among 0, ¼, ½, ¾ and 1 by sentence choice on the held-out SQuAD
articles, with the reader's first weights (0.764, 0.785, 0.790, 0.785, 0.756)."""
READER_MARGIN = 0.1
"""With the reader: how far below the best a second sentence may rank."""
CUE_BONUS = 0.1
"""Added to a sentence that holds the kind of answer asked for: a name, date or number of the
expected kind, a reason for "why", a definition for "what is X"."""
NAMED_KINDS = {Expects.PERSON, Expects.ORGANISATION, Expects.PLACE}
"""Kinds whose answer may be a name spaCy does not tag: without a tagged one, any sentence
that holds the question's names may answer. Numbers and dates must be there."""
TYPED = 12
"""How many of the best sentences are read for an answer of the expected kind."""
SUMMARY_SENTENCES = 4
"""Sentences in an extractive summary."""
_STATEMENT_END = re.compile(r"[.!][\"”’')\]]*$")
_FIELD = re.compile(r"^[A-Z][\w ]{0,30}:\s+\w")
"""A labelled value on a line of its own: "Author: Andrew Dalke and Raymond Hettinger" (of at
least ``MIN_WORDS`` words, like any candidate)."""
SHORT = 8
"""A sentence of fewer words is scored together with the one before it ("New in version 3.6.")."""


def supported_by_retrieval(question: str, chunks: list[Document]) -> bool:
    """False when the question names something no retrieved chunk mentions ("Chinese" is
    mentioned by "China")."""
    return mentioned(key_terms(question), " ".join(c.page_content for c in chunks))


@dataclass
class _Candidate:
    """A sentence or clause of a retrieved chunk, located in its document."""

    text: str
    chunk: Document
    at: int
    """Where the text starts in the chunk."""
    lead: str = ""
    """The question right before it in the document, if any (a FAQ's or a heading's)."""
    before: str = ""
    """The sentence right before it, which may name what it speaks of ("He …")."""
    score: float = 0.0
    support: float = 0.0
    """The score before the reader's reading re-ranked it (with the reader)."""
    answers: float = 0.0
    """The reader's probability that the sentence answers the question (with the reader)."""
    span: tuple[int, int] = (0, 0)
    """The reader's short answer: characters of ``text`` (with the reader)."""
    span_score: float = 0.0
    """How sure the reader is of its short answer (with the reader)."""

    @property
    def context(self) -> tuple[str, str]:
        """What the reader reads: the sentence, and the question a FAQ asks right before it
        or else the sentence before it."""
        return (self.text, self.lead or self.before)

    @property
    def reading(self) -> Reading:
        """The reader's reading of it (with the reader)."""
        return Reading(self.answers, self.span, self.span_score)

    @property
    def offset(self) -> int:
        """Where the text starts in the document (page)."""
        return int(self.chunk.metadata["offset"]) + self.at

    @property
    def scored_text(self) -> str:
        """What is matched against the question: a short sentence with the one before it."""
        return f"{self.before} {self.text}" if len(self.text.split()) < SHORT else self.text

    @property
    def short(self) -> str | None:
        """The reader's short answer, when it is shorter than the sentence."""
        a, b = self.span
        found = self.text[a:b].strip(" ,;:")
        return found if found and len(found) < len(self.text.rstrip(".!")) else None

    @property
    def place(self) -> tuple[str, int, int]:
        """Document, page and offset: the candidate's place in reading order."""
        meta = self.chunk.metadata
        return (meta["source"], meta.get("page") or 0, self.offset)

    def overlaps(self, other: _Candidate) -> bool:
        """True when both quote the same stretch of the same document."""
        same_doc = self.chunk.metadata["source"] == other.chunk.metadata["source"]
        return same_doc and (
            location(self.chunk.metadata) == location(other.chunk.metadata)
            and self.offset < other.offset + len(other.text)
            and other.offset < self.offset + len(self.text)
        )


def _candidates(chunks: list[Document]) -> list[_Candidate]:
    """Declarative sentences (ending in "." or "!") and their clauses, each once (chunks
    overlap), with the question that precedes them."""
    seen: set[str] = set()
    found = []
    for chunk in chunks:
        lead = before = ""
        for sentence in chunk_sentences(chunk):
            if sentence.text.endswith("?"):
                lead = before = sentence.text
                continue
            stated = _STATEMENT_END.search(sentence.text) or _FIELD.match(sentence.text)
            if stated and len(sentence.text.split()) >= MIN_WORDS:
                for span in clauses(sentence):  # headings and titles state nothing to quote
                    if span.text not in seen:
                        seen.add(span.text)
                        found.append(_Candidate(span.text, chunk, span.start, lead, before))
            lead, before = "", sentence.text
    return found


class ExtractiveAnswerer(Answerer):
    """Scores each retrieved sentence by meaning (embeddings) and shared terms, keeps those that
    hold the kind of answer the question expects (a name, a date, a number, a definition, a
    reason), and answers with the best one or two, each cited, and the short answer; refuses
    when none reaches ``min_support`` (a sentence of the expected kind is ranked, and judged,
    ``CUE_BONUS`` higher: holding it is evidence). A request for a summary gets four central
    sentences.

    Given qa-bot's ``reader``, the ``READ`` best sentences that reach ``min_support`` (the
    reader's lower one), whatever kind of answer they hold, are read against the question:
    they are ranked by the reader's probability that they answer and their score
    (``READER_WEIGHT``), a sentence the reader gives less than ``veto`` is not quoted (so the
    answerer refuses when none is left), and the short answer is the reader's span."""

    def __init__(
        self,
        embeddings: Embeddings,
        min_support: float,
        max_sentences: int = 2,
        margin: float = 0.06,
        reader: Reader | None = None,
        veto: float | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.reader = reader
        self.min_support = min_support
        self.veto = veto if veto is not None else reader.veto if reader is not None else 0.0
        self.max_sentences = max_sentences
        self.margin = margin if reader is None else READER_MARGIN

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> ExtractiveAnswerer:
        """The offline answerer over the store's cached sentence vectors (and the shipped
        reader when ``answer.reader`` is on)."""
        answer = settings.answer
        reader = None
        if answer.reader:  # PyTorch and the reader are imported only when used
            from qa_bot.reader.reader import reader_for

            reader = reader_for(settings.store)
        return cls(
            store.sentence_embeddings,
            answer.min_support if reader is None else answer.reader_min_support,
            answer.max_sentences,
            reader=reader,
            veto=answer.reader_veto,
        )

    def match(self, question: str, texts: list[str]) -> np.ndarray:
        """How well each text matches the question: meaning and shared terms, 0..1."""
        vectors = np.array(self.embeddings.embed_documents(texts))
        semantic = vectors @ np.array(self.embeddings.embed_query(question))
        wanted = stems(question)
        overlap = np.array([len(wanted & stems(t)) / len(wanted) if wanted else 0.0 for t in texts])
        match: np.ndarray = SEMANTIC_WEIGHT * semantic + (1 - SEMANTIC_WEIGHT) * overlap
        return match

    def score(self, question: str, chunks: list[Document]) -> list[_Candidate]:
        """All candidate sentences, scored and sorted best first. A sentence answering a
        question the document asks itself scores as well as that question matches."""
        candidates = _candidates(chunks)
        if not candidates:
            return []
        scores = self.match(question, [c.scored_text for c in candidates])
        leads = sorted({c.lead for c in candidates if c.lead})
        lead_scores = dict(zip(leads, self.match(question, leads), strict=True)) if leads else {}
        kind = expects(question)
        term = defined_term(question) if kind == Expects.DEFINITION else None
        for candidate, score in zip(candidates, scores, strict=True):
            bonus = CUE_BONUS * (
                (kind == Expects.REASON and gives_reason(candidate.text))
                or (term is not None and defines(candidate.text, term))
            )
            candidate.score = max(float(score) + bonus, lead_scores.get(candidate.lead, 0.0))
        return sorted(candidates, key=lambda c: c.score, reverse=True)

    @staticmethod
    def _read(question: str, candidates: list[_Candidate], reader: Reader) -> list[_Candidate]:
        """The candidates read by the reader (the question a FAQ asks right before a sentence,
        else the sentence before it, as context), ranked best first by reading and score."""
        readings = reader.read(as_asked(question), [c.context for c in candidates])
        for candidate, reading in zip(candidates, readings, strict=True):
            candidate.answers, candidate.span = reading.answers, reading.span
            candidate.span_score = reading.span_score
            candidate.support = candidate.score
            candidate.score = (
                READER_WEIGHT * reading.answers + (1 - READER_WEIGHT) * candidate.score
            )
        return sorted(candidates, key=lambda c: c.score, reverse=True)

    def eligible(
        self, question: str, chunks: list[Document], of_kind: bool = True
    ) -> list[_Candidate]:
        """The scored sentences that could answer, best first: holding the kind of answer the
        question expects (among the best ``TYPED``; any kind unless ``of_kind``), and none when
        the question names something the chunks never mention."""
        if not supported_by_retrieval(question, chunks):
            return []
        kind = expects(question)
        ranked = self.score(question, chunks)
        if not of_kind or kind not in ENTITY_LABELS:
            return ranked
        asked = key_terms(question)
        typed = [
            c
            for c in ranked[:TYPED]
            if mentioned(asked, f"{c.before} {c.text}") and answers_kind(question, c.text, kind)
        ]
        for candidate in typed:
            candidate.score += CUE_BONUS
        if not typed and kind in NAMED_KINDS:  # a name spaCy does not know ("the harbour office")
            return [c for c in ranked if mentioned(asked, f"{c.before} {c.text}")]
        return typed

    def supported(self, question: str, chunks: list[Document]) -> list[_Candidate]:
        """The eligible sentences that reach ``min_support``, best first; with the reader, the
        best ``READ`` of them of any kind, read and ranked again."""
        eligible = self.eligible(question, chunks, of_kind=self.reader is None)
        ranked = [c for c in eligible if c.score >= self.min_support]
        if self.reader is None or not ranked:
            return ranked
        return self._read(question, ranked[:READ], self.reader)

    def answerable(self, question: str, read: list[_Candidate]) -> bool:
        """Whether the read sentences, together, answer the question: the reader's
        answerability model where it has one (none without the reader)."""
        model = self.reader.answerability if self.reader is not None else None
        if model is None or not read:
            return True
        readings = [c.reading for c in read]
        return model.answerable(question, [c.context for c in read], readings) >= model.threshold

    def _select(self, question: str, chunks: list[Document]) -> list[_Candidate]:
        """The sentences to answer with; empty when the chunks do not support an answer."""
        read = self.supported(question, chunks)
        if not self.answerable(question, read):
            return []
        ranked = [c for c in read if c.answers >= self.veto]
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

    def summarize(self, question: str, chunks: list[Document]) -> list[_Candidate]:
        """``SUMMARY_SENTENCES`` sentences (fewer when the chunks hold fewer) that together
        cover the chunks: each close to their centre of meaning and unlike those already chosen
        (maximal marginal relevance), in reading order; none when the question names something
        the chunks never mention ("Summarize the GDPR policy")."""
        if not supported_by_retrieval(question, chunks):
            return []
        found = _candidates(chunks)
        whole = [c for c in found if not any(o is not c and c.text in o.text for o in found)]
        if not whole:
            return []
        vectors = np.array(self.embeddings.embed_documents([c.text for c in whole]))
        centre = vectors.mean(axis=0)
        relevance = vectors @ centre / (np.linalg.norm(centre) or 1.0)
        chosen: list[int] = []
        while len(chosen) < min(SUMMARY_SENTENCES, len(whole)):
            redundancy = vectors @ vectors[chosen].T if chosen else np.zeros((len(whole), 1))
            value = 0.7 * relevance - 0.3 * redundancy.max(axis=1)
            value[chosen] = -np.inf
            chosen.append(int(value.argmax()))
        for i in chosen:
            whole[i].score = float(relevance[i])
        return sorted((whole[i] for i in chosen), key=lambda c: c.place)

    def answer(self, question: str, chunks: list[Document]) -> Answer:
        """Answer with the best-supported sentences and the short answer, or refuse."""
        kind = expects(question)
        summary = kind == Expects.SUMMARY
        selected = self.summarize(question, chunks) if summary else self._select(question, chunks)
        if not selected:
            return Answer(answer=REFUSAL, refused=True)
        citations = [
            Citation.quoting(n, c.chunk, c.text, c.score, at=c.at)
            for n, c in enumerate(selected, 1)
        ]
        text = " ".join(cite(c.quote, [c.n]) for c in citations)
        short = None if summary else self._short(question, selected[0], kind)
        return Answer(answer=text, refused=False, short_answer=short, citations=citations)

    def _short(self, question: str, best: _Candidate, kind: Expects) -> str | None:
        """The short answer: the reader's span (none for a yes/no question), or the entity of
        the expected kind."""
        if self.reader is None:
            return short_answer(question, best.text, kind)
        return None if kind == Expects.YES_NO else best.short

    def stream(self, question: str, chunks: list[Document]) -> Iterator[str | Answer]:
        """Yield the answer word by word, then the Answer itself."""
        result = self.answer(question, chunks)
        yield from re.findall(r"\S+\s*", result.answer)
        yield result
