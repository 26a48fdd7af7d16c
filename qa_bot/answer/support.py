"""Does a passage support a claim? One check, shared by citation verification and the evals.

No NLI or cross-encoder model ships its weights on PyPI that we could find, so the check is a
documented lexical + embedding test with the bundled model:

    support = 0.5 * (best cosine between the claim and any sentence of the passage, or any
                     clause of such a sentence)
            + 0.5 * (share of the claim's content-word stems that occur in the passage)

A verbatim quote scores 1.0; a faithful paraphrase keeps most of its names, numbers and stems
and stays close in meaning; a claim about something else fails both halves. A claim is supported
when its score reaches ``SUPPORTED`` (0.7).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from qa_bot.text import Span, chunk_sentences, clauses, sentence_spans, stems

SUPPORTED = 0.7


class Support(NamedTuple):
    """How well a passage supports a claim, and the passage sentence closest to it."""

    score: float
    sentence: str


class SupportCheck:
    """Scores how well passages support claims, with the (cached) sentence embeddings."""

    def __init__(self, embeddings: Embeddings, threshold: float = SUPPORTED) -> None:
        self.embeddings = embeddings
        self.threshold = threshold
        self._claim_vector = lru_cache(maxsize=256)(embeddings.embed_query)
        self._sentence_vectors = lru_cache(maxsize=1024)(self._embed_sentences)

    def _embed_sentences(self, sentences: tuple[str, ...]) -> np.ndarray:
        return np.array(self.embeddings.embed_documents(list(sentences)))

    def assess(self, claim: str, passage: str) -> Support:
        """0..1: meaning (best-matching passage sentence) and wording (claim stems found)."""
        return self._assess(claim, sentence_spans(passage), passage)

    def assess_chunk(self, claim: str, chunk: Document) -> Support:
        """``assess`` against a retrieved chunk, with the sentences marked at ingest."""
        return self._assess(claim, chunk_sentences(chunk), chunk.page_content)

    def _assess(self, claim: str, sentences: list[Span], passage: str) -> Support:
        claim_stems = stems(claim)
        if not claim_stems or not passage.strip():
            return Support(0.0, "")
        parts = [(p.text, s.text) for s in sentences or [Span(0, 0, passage)] for p in clauses(s)]
        vectors = self._sentence_vectors(tuple(text for text, _ in parts))
        similarity = vectors @ np.array(self._claim_vector(claim))
        best = int(similarity.argmax())
        wording = len(claim_stems & stems(passage)) / len(claim_stems)
        return Support(0.5 * max(float(similarity[best]), 0.0) + 0.5 * wording, parts[best][1])

    def score(self, claim: str, passage: str) -> float:
        """The support score alone."""
        return self.assess(claim, passage).score

    def supports(self, claim: str, passages: list[str]) -> bool:
        """True when the passages, read together, support the claim."""
        return bool(passages) and self.score(claim, "\n\n".join(passages)) >= self.threshold
