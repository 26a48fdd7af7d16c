"""Does a passage support a claim? One check, shared by citation verification and the evals.

No NLI or cross-encoder model ships its weights on PyPI that we could find, so the check is a
documented lexical + embedding test with the bundled model:

    support = 0.5 * (best cosine between the claim and any sentence of the passage)
            + 0.5 * (share of the claim's content-word stems that occur in the passage)

A verbatim quote scores 1.0; a faithful paraphrase keeps most of its names, numbers and stems
and stays close in meaning; a claim about something else fails both halves. A claim is supported
when its score reaches ``SUPPORTED`` (0.7).
"""

from __future__ import annotations

import numpy as np
from langchain_core.embeddings import Embeddings

from qa_bot.text import content_words, sentence_spans

SUPPORTED = 0.7


def _stems(text: str) -> set[str]:
    return {w[:5] for w in content_words(text)}


class SupportCheck:
    """Scores how well passages support claims, with the (cached) sentence embeddings."""

    def __init__(self, embeddings: Embeddings, threshold: float = SUPPORTED) -> None:
        self.embeddings = embeddings
        self.threshold = threshold

    def score(self, claim: str, passage: str) -> float:
        """0..1: meaning (best-matching passage sentence) and wording (claim stems found)."""
        claim_stems = _stems(claim)
        if not claim_stems or not passage.strip():
            return 0.0
        sentences = [s.text for s in sentence_spans(passage)] or [passage]
        vectors = np.array(self.embeddings.embed_documents(sentences))
        meaning = float((vectors @ np.array(self.embeddings.embed_query(claim))).max())
        wording = len(claim_stems & _stems(passage)) / len(claim_stems)
        return 0.5 * max(meaning, 0.0) + 0.5 * wording

    def supports(self, claim: str, passages: list[str]) -> bool:
        """True when the passages, read together, support the claim."""
        return bool(passages) and self.score(claim, "\n\n".join(passages)) >= self.threshold
