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


UNSWAPPED = {"ORDINAL"}
"""Entity kinds a near miss does not change ("first" becomes "Second" mid-sentence)."""
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


def training_pairs(
    articles: list[Article], seed: int, negatives: int = 2, swapped: bool = False
) -> list[Pair]:
    """For each question: the answering sentence (with its span) or, for an unanswerable one,
    the sentence holding the plausible answer, the hardest negative; ``negatives`` other
    sentences of the paragraph; and the sentence of another paragraph of the article that
    shares the most words with the question (as retrieval would bring it). With ``swapped``,
    also each answerable question's near miss (``near_miss``) against its answering sentence."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for article in articles:
        paragraphs = [sentence_spans(p["context"]) for p in article["paragraphs"]]
        names = _names(article) if swapped else {}
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
                if swapped and not qa["is_impossible"]:
                    pairs.extend(_near_miss_pair(qa, sentences, names, rng))
    rng.shuffle(pairs)
    return pairs


def _names(article: Article) -> dict[str, list[str]]:
    """The names, dates and numbers the article mentions, by spaCy entity label."""
    from qa_bot.answer.grounding import pipeline

    found: dict[str, set[str]] = {}
    for doc in pipeline().pipe(p["context"] for p in article["paragraphs"]):
        for ent in doc.ents:
            found.setdefault(ent.label_, set()).add(ent.text)
    return {label: sorted(texts) for label, texts in found.items()}


def near_miss(
    question: str, sentence: str, names: dict[str, list[str]], rng: random.Random
) -> str | None:
    """``question`` with one of its names, dates or numbers that ``sentence`` states replaced
    by another of the same kind from the article that the sentence does not state: SQuAD 2.0's
    unanswerable questions change one fact of an answerable one this way. None when the
    question has no such name."""
    from qa_bot.answer.grounding import parse

    stated = [
        e
        for e in parse(question).ents
        if e.text in sentence and e.label_ in names and e.label_ not in UNSWAPPED
    ]
    if not stated:
        return None
    ent = rng.choice(stated)
    others = [t for t in names[ent.label_] if t not in sentence and t not in question]
    if not others:
        return None
    return question[: ent.start_char] + rng.choice(others) + question[ent.end_char :]


def _near_miss_pair(
    qa: dict[str, Any], sentences: list[Span], names: dict[str, list[str]], rng: random.Random
) -> list[Pair]:
    """The answering sentence against the question's near miss, as a sentence that does not
    answer (none when the question has no name to change)."""
    gold, _ = _gold(sentences, qa["answers"])
    if gold is None:
        return []
    text, before = sentences[gold].text, _before(sentences, gold)
    changed = near_miss(qa["question"], f"{before} {text}", names, rng)
    return [] if changed is None else [Pair(changed, text, before, False)]


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
