"""Text helpers shared by the splitter, the lexical index, the reranker and the answerer."""

from __future__ import annotations

import re
from typing import NamedTuple

import pysbd
from langchain_core.documents import Document

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our out over own same she should
    so some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your
    tell according said say says""".split()
)
_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_WORD = re.compile(r"[\w$%]+(?:['’]\w+)?")


class Span(NamedTuple):
    """A sentence and where it sits in the text it came from."""

    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[Span]:
    """Split ``text`` into sentences (pysbd rules, so "U.S." and "Nov. 12" stay whole).

    Every span's ``text`` equals ``text[start:end]`` and carries no surrounding whitespace.
    pysbd slows down faster than the text grows, so it reads blocks of at most ``_BLOCK``
    characters, cut at a blank line, a line break or a space; a block's last sentence may be
    unfinished, so it is read again at the start of the next block. Time is linear in the text.
    """
    segmenter = pysbd.Segmenter(language="en", clean=False)
    spans: list[Span] = []
    start = 0
    while start < len(text):
        end = len(text) if len(text) - start <= _BLOCK else _cut(text, start)
        found = _segment(segmenter, text, start, end)
        if end < len(text) and len(found) > 1:
            end = found.pop().start
        spans.extend(found)
        start = end
    return spans


_BLOCK = 3000
"""Most characters pysbd reads at once."""


def _cut(text: str, start: int) -> int:
    """Where the block from ``start`` ends: after its last blank line, line break or space in
    the second half of ``_BLOCK``, or at ``_BLOCK`` itself."""
    low, high = start + _BLOCK // 2, start + _BLOCK
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, low, high)
        if at >= 0:
            return at + len(separator)
    return high


def _segment(segmenter: pysbd.Segmenter, text: str, start: int, end: int) -> list[Span]:
    """pysbd's sentences of ``text[start:end]``, located in ``text``; a word is never cut after
    its dot."""
    spans: list[Span] = []
    cursor = start
    for raw in segmenter.segment(text[start:end]):
        sentence = raw.strip()
        if not sentence:
            continue
        found = text.find(sentence, cursor, end)
        if found < 0:  # pysbd altered the text: take as many characters from the cursor
            found = cursor + len(text[cursor:end]) - len(text[cursor:end].lstrip())
            sentence = text[found : min(found + len(sentence), end)].rstrip()
        cursor = found + len(sentence)
        if sentence:
            if spans and found == spans[-1].end and _cut_word(text, found):
                found = spans.pop().start
            spans.append(Span(found, cursor, text[found:cursor]))
    return spans


def _cut_word(text: str, at: int) -> bool:
    """Whether a cut at ``at`` splits a word after its dot (".venv", "''.join", "./configure")."""
    return text[at - 1] == "." and (text[at].isalnum() or text[at] in "_/")


def chunk_sentences(chunk: Document) -> list[Span]:
    """A chunk's sentences (offsets within the chunk), as marked at ingest or found again."""
    marks = chunk.metadata.get("sentences")
    if not marks:
        return sentence_spans(chunk.page_content)
    bounds = [tuple(map(int, mark.split(":"))) for mark in marks.split()]
    return [Span(a, b, chunk.page_content[a:b]) for a, b in bounds]


def with_before(spans: list[Span]) -> list[tuple[Span, str]]:
    """Each sentence with the text of the one before it ("" for the first)."""
    return [(span, spans[i - 1].text if i else "") for i, span in enumerate(spans)]


def words(text: str) -> list[str]:
    """Word tokens, with "U.S." folded to "US"."""
    text = _ACRONYM.sub(lambda m: m.group().replace(".", ""), text)
    return _WORD.findall(text)


def bare(word: str) -> str:
    """Lower case, possessive dropped: "TSMC’s" -> "tsmc"."""
    return re.sub(r"['’]s$", "", word.lower())


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry meaning (stopwords dropped), bare."""
    return [bare(w) for w in words(text) if w.lower() not in STOPWORDS]


def stem(word: str) -> str:
    """A rough stem: a long word's inflection dropped, then cut to five letters ("plans" ~
    "plan", "opted" ~ "opt", "funding" ~ "funded")."""
    return (_INFLECTION.sub("", word) if len(word) > 4 else word)[:5]


_INFLECTION = re.compile(r"(?:es|s|ing|ed)$")


def stems(text: str) -> set[str]:
    """Content-word stems of ``text``."""
    return {stem(w) for w in content_words(text)}


MIN_WORDS = 4
"""Fewest words in a clause that stands on its own."""
_CLAUSE_BREAK = re.compile(r"[,;]\s+(?=(?:and|but|yet|while|whereas)\s)|;\s+")


def clauses(span: Span) -> list[Span]:
    """The sentence and, when it joins independent clauses ("…, and …"), each clause."""
    breaks = list(_CLAUSE_BREAK.finditer(span.text))
    starts = [0, *(m.end() for m in breaks)]
    ends = [*(m.start() for m in breaks), len(span.text)]
    parts = [
        Span(span.start + a, span.start + b, span.text[a:b])
        for a, b in zip(starts, ends, strict=True)
    ]
    if len(parts) < 2 or any(len(p.text.split()) < MIN_WORDS for p in parts):
        return [span]
    return [span, *parts]


def key_terms(question: str) -> set[str]:
    """Names and numbers in the question ("Samsung", "TDK", "2023"): capitalised or digit-bearing
    words other than the first, which any supporting text must mention as whole words."""
    return {
        bare(w)
        for w in words(question)[1:]
        if w.lower() not in STOPWORDS and (w[0].isupper() or any(c.isdigit() for c in w))
    }
