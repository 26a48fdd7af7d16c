"""Made near misses: an answerable question with one fact changed so that its paragraph no
longer answers it, as SQuAD 2.0's annotators wrote its unanswerable questions.

Two kinds are made with spaCy's entities (en_core_web_sm, already a runtime dependency):

- ``entity``: a name, place, organisation, date, ... the question shares with the paragraph is
  swapped for another of the same kind from the same article;
- ``number``: a number in the question is moved (1850 -> 1853, 12 -> 14).

A change is kept only when the new item occurs nowhere in the answering paragraph.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

UNSWAPPED = {"ORDINAL"}
"""Entity kinds never swapped ("first" becomes "Second" mid-sentence)."""
_NUMBER = re.compile(r"\b\d{1,4}\b")
NUMBER_SHIFTS = (-3, -2, -1, 1, 2, 3, 5, 10)
"""How far a number moves (a year by a few years, a count by a few)."""


@dataclass(frozen=True)
class NearMiss:
    """A changed question and what kind of change made it."""

    question: str
    kind: str
    changed: str
    """The item the question now names instead."""


def spacy_pipeline() -> Language:
    """en_core_web_sm with only what named entities need."""
    from qa_bot.answer.grounding import pipeline

    return pipeline()


def article_names(docs: Iterable[Doc]) -> dict[str, list[str]]:
    """The entities an article's paragraphs mention, by label (sorted: the same every run)."""
    found: dict[str, set[str]] = {}
    for doc in docs:
        for ent in doc.ents:
            if ent.label_ not in UNSWAPPED:
                found.setdefault(ent.label_, set()).add(ent.text)
    return {label: sorted(texts) for label, texts in found.items()}


def entity_swap(
    question: Doc, paragraph: str, names: dict[str, list[str]], rng: random.Random
) -> NearMiss | None:
    """``question`` with one entity the paragraph states swapped for another of its kind
    from the article that the paragraph never mentions; None when there is none."""
    lowered = paragraph.lower()
    stated = [e for e in question.ents if e.label_ in names and e.text.lower() in lowered]
    rng.shuffle(stated)
    for ent in stated:
        others = [
            t
            for t in names[ent.label_]
            if t.lower() not in lowered and t.lower() not in question.text.lower()
        ]
        if others:
            new = rng.choice(others)
            text = question.text
            return NearMiss(text[: ent.start_char] + new + text[ent.end_char :], "entity", new)
    return None


def number_shift(question: str, paragraph: str, rng: random.Random) -> NearMiss | None:
    """``question`` with one of its numbers moved to a value the paragraph never states;
    None when it has no number or every move is stated."""
    numbers = [m for m in _NUMBER.finditer(question) if m.group() in paragraph]
    rng.shuffle(numbers)
    for match in numbers:
        shifts = list(NUMBER_SHIFTS)
        rng.shuffle(shifts)
        for shift in shifts:
            value = int(match.group()) + shift
            new = str(value)
            if value > 0 and not re.search(rf"(?<!\d){new}(?!\d)", paragraph):
                text = question[: match.start()] + new + question[match.end() :]
                return NearMiss(text, "number", new)
    return None


def near_misses(
    question: Doc, paragraph: str, names: dict[str, list[str]], rng: random.Random
) -> Iterator[NearMiss]:
    """Every kind of near miss ``question`` admits, at most one of each kind."""
    for made in (
        entity_swap(question, paragraph, names, rng),
        number_shift(question.text, paragraph, rng),
    ):
        if made is not None:
            yield made
