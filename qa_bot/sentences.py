"""Sentence boundaries with character offsets, shared by the splitter and the answerer."""

from __future__ import annotations

from typing import NamedTuple

import pysbd


class Span(NamedTuple):
    """A sentence and where it sits in the text it came from."""

    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[Span]:
    """Split ``text`` into sentences (pysbd rules, so "U.S." and "Nov. 12" stay whole).

    Every span's ``text`` equals ``text[start:end]`` and carries no surrounding whitespace.
    """
    spans: list[Span] = []
    cursor = 0
    for raw in pysbd.Segmenter(language="en", clean=False).segment(text):
        sentence = raw.strip()
        if not sentence:
            continue
        start = text.find(sentence, cursor)
        if start < 0:  # pysbd altered the text; fall back to the raw cursor position
            start = cursor
            sentence = text[start : start + len(sentence)]
        cursor = start + len(sentence)
        spans.append(Span(start, cursor, sentence))
    return spans
