"""Citation verification for generated answers: every sentence is checked against the chunks it
cites, after generation and before the answer is shown as final.

For each sentence: citation numbers that name no chunk are dropped; the cited chunks are checked
with the shared ``SupportCheck``; citations that do not support the sentence are dropped when
another cited chunk does; a sentence none of its citations supports is re-attributed to the
retrieved chunk that does support it, or else keeps its citations marked ``verified: false`` and
is listed in ``Answer.unsupported``. Citations are renumbered 1..n in order of appearance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from langchain_core.documents import Document

from qa_bot.answer.support import Support, SupportCheck
from qa_bot.records import Answer, Citation, cite, cited_numbers, strip_markers
from qa_bot.text import content_words, sentence_spans

_REFUSING = re.compile(
    r"\b(?:not|no|cannot|can't|don't|doesn't)\b[^.]{0,60}"
    r"\b(?:contain|mention|say|answer|information|provided?|know)",
    re.IGNORECASE,
)


@dataclass
class _Checked:
    """One answer sentence: its text without markers, and the chunks (by index) it cites."""

    claim: str
    cites: dict[int, Support] = field(default_factory=dict)
    supported: bool = True


def _check(sentence: str, chunks: list[Document], check: SupportCheck) -> _Checked:
    """Verify one sentence's citations, re-attributing it when another chunk supports it."""
    claim = strip_markers(sentence)
    if not content_words(claim):
        return _Checked(claim)  # "Sure." states nothing to check
    valid = list(dict.fromkeys(n - 1 for n in cited_numbers(sentence) if 0 < n <= len(chunks)))
    cited = {i: check.assess_chunk(claim, chunks[i]) for i in valid}
    good = {i: s for i, s in cited.items() if s.score >= check.threshold}
    if good:
        return _Checked(claim, good)
    if len(cited) > 1 and check.supports(claim, [chunks[i].page_content for i in cited]):
        return _Checked(claim, cited)  # the cited chunks support it only together
    others = {i: check.assess_chunk(claim, c) for i, c in enumerate(chunks) if i not in cited}
    best = max(others, key=lambda i: others[i].score, default=None)
    if best is not None and others[best].score >= check.threshold:
        return _Checked(claim, {best: others[best]})
    return _Checked(claim, cited, supported=False)


def verify(text: str, chunks: list[Document], check: SupportCheck) -> Answer:
    """The generated ``text`` as a checked Answer (see the module docstring)."""
    spans = sentence_spans(text)
    checked = [_check(span.text, chunks, check) for span in spans]
    numbers: dict[int, int] = {}  # chunk index -> citation number, in order of appearance
    best: dict[int, Support] = {}
    verified: dict[int, bool] = {}
    for sentence in checked:
        for i, support in sentence.cites.items():
            numbers.setdefault(i, len(numbers) + 1)
            if i not in best or support.score > best[i].score:
                best[i] = support
            verified[i] = verified.get(i, True) and sentence.supported
    parts, cursor = [], 0
    for span, sentence in zip(spans, checked, strict=True):
        marks = [numbers[i] for i in sentence.cites]
        parts += [text[cursor : span.start], cite(sentence.claim, marks)]
        cursor = span.end
    answer = "".join(parts) + text[cursor:]
    citations = [
        Citation.quoting(n, chunks[i], best[i].sentence, best[i].score, verified[i])
        for i, n in numbers.items()
    ]
    refused = not citations and bool(_REFUSING.search(answer))
    return Answer(
        answer=answer.strip(),
        refused=refused,
        citations=citations,
        unsupported=[] if refused else [s.claim for s in checked if not s.supported],
    )
