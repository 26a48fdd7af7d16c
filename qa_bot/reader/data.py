"""Training and validation examples for the reader, from SQuAD 2.0 files."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_bot.text import Span, sentence_spans, stems

Article = dict[str, Any]
"""One article of a SQuAD 2.0 file, as parsed from its JSON."""
VALIDATION = ("Amazon_rainforest", "Prime_number", "Scottish_Parliament")
"""Articles of the training file held out for validation and calibration."""


@dataclass
class Pair:
    """A question and one candidate sentence, with whether it answers and where the short
    answer lies in it (characters)."""

    question: str
    sentence: str
    before: str
    answers: bool
    span: tuple[int, int] | None = None


@dataclass
class Question:
    """A validation question with candidate sentences (sentence, sentence before it) as
    retrieval would bring them: its paragraph's and those of the ``DISTRACTORS`` paragraphs of
    the article sharing the most words with it; and its gold answers."""

    question: str
    candidates: list[tuple[str, str]]
    gold: int | None
    """Index of the answering candidate; None for an unanswerable question."""
    answers: list[str]


DISTRACTORS = 2
"""Other paragraphs read with each validation question."""


def load_articles(path: Path) -> list[Article]:
    """The articles of a SQuAD 2.0 JSON file."""
    articles: list[Article] = json.loads(path.read_text(encoding="utf-8"))["data"]
    return articles


def split(articles: list[Article]) -> tuple[list[Article], list[Article]]:
    """The training articles and the held-out ``VALIDATION`` ones."""
    train = [a for a in articles if a["title"] not in VALIDATION]
    return train, [a for a in articles if a["title"] in VALIDATION]


def _containing(sentences: list[Span], at: int) -> int | None:
    """Index of the sentence holding character ``at``."""
    for i, span in enumerate(sentences):
        if span.start <= at < span.end:
            return i
    return None


def _gold(
    sentences: list[Span], answers: list[dict[str, Any]]
) -> tuple[int | None, tuple[int, int] | None]:
    """The sentence most annotators' answers fall in, and the first such answer's span."""
    held = (_containing(sentences, a["answer_start"]) for a in answers)
    votes = Counter(i for i in held if i is not None)
    if not votes:
        return None, None
    best = votes.most_common(1)[0][0]
    span = sentences[best]
    for a in answers:
        start, end = a["answer_start"], a["answer_start"] + len(a["text"])
        if span.start <= start and end <= span.end:
            return best, (start - span.start, end - span.start)
    return best, None


def _before(sentences: list[Span], i: int) -> str:
    return sentences[i - 1].text if i > 0 else ""


def questions(articles: list[Article]) -> list[Question]:
    """Every question of ``articles`` with its candidates."""
    found = []
    for article in articles:
        paragraphs = [sentence_spans(p["context"]) for p in article["paragraphs"]]
        words = [stems(p["context"]) for p in article["paragraphs"]]
        for n, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                gold = None if qa["is_impossible"] else _gold(paragraphs[n], qa["answers"])[0]
                if not qa["is_impossible"] and gold is None:
                    continue
                wanted = stems(qa["question"])
                others = sorted(
                    (m for m in range(len(paragraphs)) if m != n),
                    key=lambda m: -len(wanted & words[m]),
                )[:DISTRACTORS]
                candidates = [
                    (s.text, _before(paragraphs[m], i))
                    for m in [n, *others]
                    for i, s in enumerate(paragraphs[m])
                ]
                texts = [a["text"] for a in qa["answers"]]
                found.append(Question(qa["question"], candidates, gold, texts))
    return found


def training_pairs(articles: list[Article], seed: int, negatives: int = 2) -> list[Pair]:
    """For each question: the answering sentence (with its span) or, for an unanswerable one,
    the sentence holding the plausible answer, the hardest negative; ``negatives`` other
    sentences of the paragraph; and the sentence of another paragraph of the article that
    shares the most words with the question (as retrieval would bring it)."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for article in articles:
        paragraphs = [sentence_spans(p["context"]) for p in article["paragraphs"]]
        for n, paragraph in enumerate(article["paragraphs"]):
            sentences = paragraphs[n]
            elsewhere = [
                (s, _before(other, i), stems(s.text))
                for m, other in enumerate(paragraphs)
                if m != n
                for i, s in enumerate(other)
            ]
            for qa in paragraph["qas"]:
                pairs.extend(_pairs_for(qa, sentences, elsewhere, rng, negatives))
    rng.shuffle(pairs)
    return pairs


def _pairs_for(
    qa: dict[str, Any],
    sentences: list[Span],
    elsewhere: list[tuple[Span, str, set[str]]],
    rng: random.Random,
    negatives: int,
) -> list[Pair]:
    question = qa["question"]
    impossible = qa["is_impossible"]
    gold, span = _gold(sentences, qa["plausible_answers" if impossible else "answers"])
    pairs = []
    if gold is not None:
        pairs.append(
            Pair(
                question,
                sentences[gold].text,
                _before(sentences, gold),
                not impossible,
                None if impossible else span,
            )
        )
    others = [i for i in range(len(sentences)) if i != gold]
    for i in rng.sample(others, min(negatives, len(others))):
        pairs.append(Pair(question, sentences[i].text, _before(sentences, i), False))
    if elsewhere:
        wanted = stems(question)
        sentence, before, _ = max(elsewhere, key=lambda e: len(wanted & e[2]))
        pairs.append(Pair(question, sentence.text, before, False))
    return pairs
