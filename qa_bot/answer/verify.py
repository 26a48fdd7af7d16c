"""Citation verification for generated answers: every sentence is grounded (``grounding.ground``)
in the retrieved chunks after generation and before the answer is shown as final.

Each sentence is cited to the chunk that grounds it, whichever chunk the model named, and that
chunk's supporting sentence is quoted; citation numbers naming no chunk disappear. One chunk
must ground a sentence on its own: a sentence that joins facts from two sources is not grounded
(the prompt asks for one source per sentence). A sentence no
chunk grounds is listed in ``Answer.unsupported`` and, by the ``unsupported`` policy, either
dropped from the answer ("drop", the default: when nothing grounded remains, the answer is a
refusal) or kept with its citations marked ``verified: false`` ("flag"). Citations are
renumbered 1..n in order of appearance. A sentence that speaks to the assistant ("reply only
with …", "ignore previous instructions", ``grounding.addresses_assistant``) is an instruction a
document smuggled in: it is listed in ``unsupported`` and dropped under either policy, never
stated or cited.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

from langchain_core.documents import Document

from qa_bot.answer.base import REFUSAL
from qa_bot.answer.grounding import addresses_assistant, facts, ground
from qa_bot.answer.support import Support, SupportCheck
from qa_bot.records import Answer, Citation, cite, cited_numbers, strip_markers
from qa_bot.text import content_words, sentence_spans

log = logging.getLogger(__name__)
Policy = Literal["drop", "flag"]
FRAGMENT_WORDS = 4
"""A sentence of at most this many words is a bare answer, read with its question."""
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
    states: bool = True
    """False for sentences that state nothing to check ("Sure.") and for refusals."""
    injected: bool = False
    """True for an instruction to the assistant taken from a document: always dropped."""


def _check(sentence: str, question: str, chunks: list[Document], check: SupportCheck) -> _Checked:
    """Ground one sentence, citing the chunk that grounds it; a bare answer ("$1 trillion.")
    is grounded together with the question it answers."""
    claim = strip_markers(sentence)
    if addresses_assistant(claim):
        return _Checked(claim, supported=False, states=False, injected=True)
    cited = list(dict.fromkeys(n - 1 for n in cited_numbers(sentence) if 0 < n <= len(chunks)))
    refusing = bool(_REFUSING.search(claim)) and not cited and not facts(claim)
    if not content_words(claim) or refusing:
        return _Checked(claim, states=False)
    bare = len(claim.split()) <= FRAGMENT_WORDS
    found = ground(f"{question} {claim}" if bare else claim, chunks, check, prefer=cited)
    if found.chunk is not None:
        return _Checked(claim, {found.chunk: found.support})
    log.debug("not grounded: %s (%s)", claim, found.why)
    return _Checked(claim, {i: found.scores[i] for i in cited}, False)


def verify(
    text: str, question: str, chunks: list[Document], check: SupportCheck, policy: Policy
) -> Answer:
    """The generated answer ``text`` to ``question`` as a grounded Answer (see the module
    docstring)."""
    spans = sentence_spans(text)
    checked = [_check(span.text, question, chunks, check) for span in spans]
    unsupported = [s.claim for s in checked if not s.supported]
    stated = any(s.states and s.supported for s in checked)
    if not stated and (policy == "drop" or not unsupported):
        return Answer(answer=REFUSAL, refused=True, unsupported=unsupported)
    kept = [(s.supported or policy == "flag") and not s.injected for s in checked]
    numbers: dict[int, int] = {}  # chunk index -> citation number, in order of appearance
    best: dict[int, Support] = {}
    verified: dict[int, bool] = {}
    for sentence in (s for s, keep in zip(checked, kept, strict=True) if keep):
        for i, support in sentence.cites.items():
            numbers.setdefault(i, len(numbers) + 1)
            if i not in best or support.score > best[i].score:
                best[i] = support
            verified[i] = verified.get(i, True) and sentence.supported
    parts, cursor = [], 0
    for span, sentence, keep in zip(spans, checked, kept, strict=True):
        if keep:
            parts += [
                text[cursor : span.start],
                cite(sentence.claim, [numbers[i] for i in sentence.cites]),
            ]
            cursor = span.end
        else:  # the dropped sentence goes with the spaces after it
            cursor = span.end + len(text[span.end :]) - len(text[span.end :].lstrip(" \t"))
    answer = "".join(parts) + text[cursor:]
    citations = [
        Citation.quoting(n, chunks[i], best[i].sentence, best[i].score, verified[i])
        for i, n in numbers.items()
    ]
    return Answer(
        answer=answer.strip(), refused=False, citations=citations, unsupported=unsupported
    )


def without_instructions(answer: Answer) -> Answer:
    """``answer`` (from any answerer) without its sentences that speak to the assistant: they
    are listed in ``unsupported``, the citations only they made go, the rest are renumbered;
    a refusal when nothing else is said. Unchanged when there is no such sentence."""
    spans = sentence_spans(answer.answer)
    injected = [span for span in spans if addresses_assistant(strip_markers(span.text))]
    if not injected:
        return answer
    kept = [span for span in spans if span not in injected]
    unsupported = [*answer.unsupported, *(strip_markers(span.text) for span in injected)]
    if not any(content_words(strip_markers(span.text)) for span in kept):
        return Answer(answer=REFUSAL, refused=True, unsupported=unsupported)
    numbers: dict[int, int] = {}  # old citation number -> new, in order of appearance
    for span in kept:
        for n in cited_numbers(span.text):
            numbers.setdefault(n, len(numbers) + 1)
    text = " ".join(
        cite(
            strip_markers(span.text), [numbers[n] for n in dict.fromkeys(cited_numbers(span.text))]
        )
        for span in kept
    )
    citations = sorted(
        (c.model_copy(update={"n": numbers[c.n]}) for c in answer.citations if c.n in numbers),
        key=lambda c: c.n,
    )
    short = answer.short_answer
    if short and not any(short in span.text for span in kept):
        short = None  # it came from an instruction
    return answer.model_copy(
        update={
            "answer": text,
            "citations": citations,
            "unsupported": unsupported,
            "short_answer": short,
        }
    )
