"""SQuAD files (1.1 and 2.0) for the reader: articles, the held-out split, and validation
questions with their candidate sentences."""

from __future__ import annotations

import json
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


def split_documentation(path: Path) -> tuple[list[Article], list[Article]]:
    """A documentation question file's training articles and the held-out ones it names."""
    data = json.loads(path.read_text(encoding="utf-8"))
    held = set(data["validation"])
    articles: list[Article] = data["data"]
    return [a for a in articles if a["title"] not in held], [
        a for a in articles if a["title"] in held
    ]


def containing(sentences: list[Span], at: int) -> int | None:
    """Index of the sentence holding character ``at``."""
    for i, span in enumerate(sentences):
        if span.start <= at < span.end:
            return i
    return None


def gold_sentence(
    sentences: list[Span], answers: list[dict[str, Any]]
) -> tuple[int | None, tuple[int, int] | None]:
    """The sentence most annotators' answers fall in, and the first such answer's span."""
    held = (containing(sentences, a["answer_start"]) for a in answers)
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


def sentence_before(sentences: list[Span], i: int) -> str:
    return sentences[i - 1].text if i > 0 else ""


def questions(articles: list[Article]) -> list[Question]:
    """Every question of ``articles`` with its candidates."""
    found = []
    for article in articles:
        paragraphs = [sentence_spans(p["context"]) for p in article["paragraphs"]]
        words = [stems(p["context"]) for p in article["paragraphs"]]
        for n, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                impossible = qa.get("is_impossible", False)
                gold = None if impossible else gold_sentence(paragraphs[n], qa["answers"])[0]
                if not impossible and gold is None:
                    continue
                wanted = stems(qa["question"])
                others = sorted(
                    (m for m in range(len(paragraphs)) if m != n),
                    key=lambda m: -len(wanted & words[m]),
                )[:DISTRACTORS]
                candidates = [
                    (s.text, sentence_before(paragraphs[m], i))
                    for m in [n, *others]
                    for i, s in enumerate(paragraphs[m])
                ]
                texts = [a["text"] for a in qa["answers"]]
                found.append(Question(qa["question"], candidates, gold, texts))
    return found
