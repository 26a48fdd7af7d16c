"""Per-case metrics: retrieval rank, keyword groups, token F1, SQuAD EM/F1, ALCE citations."""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

from langchain_core.documents import Document

from qa_bot.answer.support import SupportCheck
from qa_bot.records import Answer, cited_numbers, strip_markers
from qa_bot.text import sentence_spans


def normalize_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: list[str]) -> float:
    """SQuAD EM: 1 when the normalised prediction equals a normalised gold answer."""
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds or [""]))


def token_f1(prediction: str, golds: list[str]) -> float:
    """SQuAD F1: best token-overlap F1 against any gold answer (no answer = empty string)."""

    def f1(gold: str) -> float:
        pred_tokens = normalize_answer(prediction).split()
        gold_tokens = normalize_answer(gold).split()
        if not pred_tokens or not gold_tokens:
            return float(pred_tokens == gold_tokens)
        common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if not common:
            return 0.0
        precision, recall = common / len(pred_tokens), common / len(gold_tokens)
        return 2 * precision * recall / (precision + recall)

    return max(f1(g) for g in golds or [""])


def contains_answer(prediction: str, golds: list[str]) -> float:
    """1 when a normalised gold answer occurs in the normalised prediction (no answer: when
    the prediction is empty too)."""
    if not golds:
        return float(not prediction)
    text = f" {normalize_answer(prediction)} "
    return float(any(f" {normalize_answer(g)} " in text for g in golds))


def plain_answer(answer: Answer) -> str:
    """The answer text without citation markers; empty when the bot refused (SQuAD "no answer")."""
    return "" if answer.refused else answer.plain_text()


def cited_span(answer: Answer, golds: list[str]) -> str:
    """The shortest cited quote that contains a gold answer (else the shortest quote)."""
    if answer.refused or not answer.citations:
        return ""
    quotes = sorted((c.quote for c in answer.citations), key=len)
    wanted = [normalize_answer(g) for g in golds if g]
    return next((q for q in quotes if any(w in normalize_answer(q) for w in wanted)), quotes[0])


def keyword_pass(answer: Answer, groups: list[list[str]]) -> bool:
    """Every group has at least one of its strings in the answer (case-insensitive)."""
    text = answer.answer.lower()
    return all(any(option.lower() in text for option in group) for group in groups)


def gold_rank(chunks: list[Document], quote: str | None, source: str | None) -> int | None:
    """1-based rank of the first retrieved chunk holding the gold quote (or of the gold source)."""
    wanted = " ".join(quote.split()) if quote else None
    for rank, chunk in enumerate(chunks, 1):
        if wanted and wanted in " ".join(chunk.page_content.split()):
            return rank
        found = str(chunk.metadata.get("source", ""))
        if source and (found == source or found.endswith(f"/{source}")):  # "<folder>/<path>"
            return rank
    return None


@dataclass
class CitationScores:
    """ALCE citation recall and precision of one answer (None when it makes no claims)."""

    recall: float | None
    precision: float | None
    unsupported: list[str]


def citation_scores(
    answer: Answer, passages: dict[int, str], check: SupportCheck
) -> CitationScores:
    """ALCE (Gao et al., 2023): a sentence is recalled when its cited passages together support
    it; a citation is precise unless it alone does not support its sentence while the other
    citations still do (and citations of unsupported sentences are not precise)."""
    if answer.refused:
        return CitationScores(None, None, [])
    recalled, precise, cited, unsupported = 0, 0, 0, []
    sentences = [s.text for s in sentence_spans(answer.answer)]
    for sentence in sentences:
        numbers = [n for n in dict.fromkeys(cited_numbers(sentence)) if n in passages]
        claim = strip_markers(sentence)
        supported = bool(numbers) and check.supports(claim, [passages[n] for n in numbers])
        recalled += supported
        if not supported:
            unsupported.append(claim)
        for n in numbers:
            cited += 1
            others = [passages[m] for m in numbers if m != n]
            irrelevant = not check.supports(claim, [passages[n]]) and check.supports(claim, others)
            precise += supported and not irrelevant
    return CitationScores(
        recalled / len(sentences) if sentences else None,
        precise / cited if cited else None,
        unsupported,
    )
