"""What a question expects for an answer: a person, an organisation, a place, a date, a number,
a definition, a reason, yes or no, a summary, or anything else; and the span of a sentence that
gives it (the short answer)."""

from __future__ import annotations

import re
from enum import StrEnum

from qa_bot.answer.grounding import NUMBER_WORDS, parse
from qa_bot.text import stem, stems


class Expects(StrEnum):
    """The kind of answer a question asks for."""

    PERSON = "person"
    ORGANISATION = "organisation"
    PLACE = "place"
    DATE = "date"
    NUMBER = "number"
    DEFINITION = "definition"
    REASON = "reason"
    YES_NO = "yes/no"
    SUMMARY = "summary"
    OTHER = "other"


_WHICH = r"\b(?:which|what)\s+(?:\w+\s+)?"
_RULES: list[tuple[Expects, str]] = [
    (
        Expects.SUMMARY,
        r"^\s*(?:(?:can|could|would) you\s+)?(?:please\s+)?"
        r"(?:summari[sz]e|sum up|give (?:me )?an? (?:summary|overview)|tl;?dr)"
        r"|\bwhat(?:['’]s| is| are) (?:this|these|the|that)\b[^?]{0,60}\babout\s*\??\s*$"
        r"|\b(?:main|key) (?:points|ideas|takeaways)\b",
    ),
    (
        Expects.REASON,
        r"^\s*(?:why|how come)\b|\bwhat (?:is|was|are|were) the reasons?\b|\bfor what reason",
    ),
    (
        Expects.NUMBER,
        r"\bhow (?:many|much|long|far|old|big|large|tall|high|deep|wide|fast|often)\b"
        r"|\bwhat (?:percent|percentage|proportion|fraction|share|amount|number)\b"
        rf"|{_WHICH}(?:version|port|size|timeout|limit|length|count|price|cost|population|age)\b",
    ),
    (
        Expects.DATE,
        rf"^\s*(?:since\s+)?when\b|{_WHICH}(?:year|century|decade|month|date|day)\b"
        r"|\bon what date\b",
    ),
    (Expects.PLACE, rf"^\s*where\b|{_WHICH}(?:country|countries|city|cities|state|place|region)"),
    (
        Expects.ORGANISATION,
        rf"{_WHICH}(?:compan(?:y|ies)|firms?|organi[sz]ations?|newspapers?|papers?|agenc(?:y|ies)"
        r"|banks?|publications?|outlets?|businesses)\b",
    ),
    (
        Expects.PERSON,
        r"^\s*(?:who|whom|whose)\b"
        rf"|{_WHICH}(?:person|people|executive|ceo|founder|author|president|speaker)\b",
    ),
    (Expects.YES_NO, r"^\s*(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have)\b"),
    (Expects.DEFINITION, r"^\s*(?:what(?:['’]s| is| are| was| were)|define|what does .+ mean)\b"),
]
RULES = [(kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _RULES]

ENTITY_LABELS = {
    Expects.PERSON: {"PERSON", "ORG", "NORP"},  # "Who reported it?" is often an organisation
    Expects.ORGANISATION: {"ORG", "NORP"},
    Expects.PLACE: {"GPE", "LOC", "FAC", "ORG"},  # "Where can I read more?" "On Moyens I/O."
    Expects.DATE: {"DATE", "TIME"},
    Expects.NUMBER: {"CARDINAL", "MONEY", "PERCENT", "QUANTITY"},
}
"""spaCy entity labels that can answer each kind of question."""

_DEFINED = re.compile(
    r"\b(?:is|are|was|were|refers to|means|describes)\s+(?P<def>(?:an?|the)\s[^.;:]+)", re.I
)
_SUBJECT = re.compile(
    r"^\s*(?:what(?:['’]s| is| are| was| were)|define|what does)\s+"
    r"(?:an?\s+|the\s+)?(?P<x>.+?)(?:\s+mean)?\s*\??\s*$",
    re.I,
)
_REASON_CUE = re.compile(
    r"\b(?:because|since|due to|owing to|as a result|so that|in order to|reasons?|concerns?|"
    r"worr(?:y|ies|ied)|fears?|deters?|risks?|caus(?:e|es|ed)|thanks to|given that)\b",
    re.I,
)
_NUMBER_WORDS = [*NUMBER_WORDS, *"hundred thousand million billion trillion dozen half".split()]
_TIME_WORDS = (  # not "may" or "fall": in a sentence they are mostly verbs
    "january february march april june july august september october november december "
    "spring summer autumn winter century centuries decade today yesterday tomorrow"
)
FORMS = {
    Expects.NUMBER: re.compile(rf"\d|\b(?:{'|'.join(_NUMBER_WORDS)})s?\b", re.I),
    Expects.DATE: re.compile(
        rf"\b(?:1\d{{3}}|20\d\d|{'|'.join(_TIME_WORDS.split())})s?\b|\b(?:version|since|python)\s+\d",
        re.I,
    ),
}
"""What a number or a date looks like where spaCy tags none ("by summer"); software dates its
changes by version ("since Python 3.2")."""
_DIGITS = re.compile(r"\d")
_RELATION = re.compile(r"\b(?:of|for|in|on|to|with|from|by|about|that|which|who)\b", re.I)
MAX_TERM_WORDS = 5


def expects(question: str) -> Expects:
    """The kind of answer ``question`` asks for (the first rule that matches); "What is X?"
    asks for a definition only when X is a short name, not "the goal of Y"."""
    kind = next((kind for kind, rule in RULES if rule.search(question)), Expects.OTHER)
    if kind == Expects.DEFINITION and defined_term(question) is None:
        return Expects.OTHER
    return kind


def defined_term(question: str) -> str | None:
    """X in "What is X?", "Define X", "What does X mean?", when X is a name of a few words."""
    found = _SUBJECT.match(question)
    term = found.group("x") if found else ""
    short = 0 < len(term.split()) <= MAX_TERM_WORDS and not _RELATION.search(term)
    return term if short else None


def gives_reason(sentence: str) -> bool:
    """True when the sentence states a cause or motive ("because", "concerns", "due to"…)."""
    return bool(_REASON_CUE.search(sentence))


def defines(sentence: str, term: str) -> bool:
    """True when ``sentence`` says what ``term`` is ("X is a …", "X, a …", "called X")."""
    words = [re.escape(w) for w in term.split()[-3:]]
    name = r"\W+".join(words)
    return bool(
        re.search(
            rf"{name}\W*(?:\s\w+){{0,3}}\s+(?:is|are|was|were|refers to|means)\s", sentence, re.I
        )
        or re.search(rf"{name},\s+(?:an?|the)\s", sentence, re.I)
        or re.search(rf"(?:called|named|known as|referred to as)\s+{name}", sentence, re.I)
    )


def short_answer(question: str, sentence: str, kind: Expects) -> str | None:
    """The span of ``sentence`` that answers ``question`` in a few words: an entity of the
    expected kind that the question does not already name, nearest the question's own words;
    the defining phrase of a definition; None when the question asks for no such span or the
    sentence holds none."""
    if kind == Expects.DEFINITION:
        found = _DEFINED.search(sentence)
        return found.group("def").strip(" ,") if found else None
    labels = ENTITY_LABELS.get(kind)
    if labels is None:
        return None
    asked = stems(question)
    doc = parse(sentence)
    anchors = [t.i for t in doc if stem(t.lower_) in asked]
    spans = [
        e
        for e in doc.ents
        if e.label_ in labels
        and not stems(e.text) <= asked
        and e.text.lower() not in question.lower()
    ]
    if kind == Expects.NUMBER and not spans:
        return next(
            (t.text for t in doc if _DIGITS.search(t.text) and t.text not in question), None
        )
    if not spans:
        return None
    nearest = min(spans, key=lambda e: min((abs(e.start - a) for a in anchors), default=0))
    return nearest.text


def answers_kind(question: str, sentence: str, kind: Expects) -> bool:
    """True when ``sentence`` could answer a question expecting ``kind``: it holds an entity of
    that kind the question does not already give (for kinds that expect one)."""
    if kind not in ENTITY_LABELS:
        return True
    form = FORMS.get(kind)
    return short_answer(question, sentence, kind) is not None or bool(
        form and form.search(sentence)
    )
