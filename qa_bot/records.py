"""The answer records every face returns (the ``ask --json`` shape), and how citations are
written into answer text as ``[n]``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote as percent_encoded

from langchain_core.documents import Document
from pydantic import BaseModel, Field

CITATION_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
"""A citation marker in answer text: ``[1]`` or ``[1, 2]``, with the space before it."""


FRAGMENT_WORDS = 5
"""Words a text fragment names at each end of a longer quote (``#:~:text=start,end``)."""


def text_fragment(url: str, quote: str) -> str:
    """``url`` at ``quote``: a text fragment (``#:~:text=``), which a browser that supports it
    scrolls to and highlights (one that does not opens the page at its top). A long quote is
    named by its first and last words."""
    words = quote.split()

    def encoded(part: list[str]) -> str:
        return percent_encoded(" ".join(part), safe="").replace("-", "%2D")

    if len(words) <= 2 * FRAGMENT_WORDS:
        directive = encoded(words)
    else:
        directive = f"{encoded(words[:FRAGMENT_WORDS])},{encoded(words[-FRAGMENT_WORDS:])}"
    return f"{url.split('#', 1)[0]}#:~:text={directive}"


def location(metadata: Mapping[str, Any]) -> str | None:
    """Where a chunk lies in its document, as the faces show it: its ``page`` number after its
    ``page_label`` ("page 3", "slide 2", "Sheet Sales, row 14"); None without a page."""
    page = metadata.get("page")
    if page is None:
        return None
    return f"{metadata.get('page_label') or 'page'} {page}"


class Citation(BaseModel):
    """One numbered source of an answer: the chunk it names and the exact sentence quoted."""

    n: int = Field(description="The number used in the answer text as [n].")
    source: str = Field(description="Path of the document, relative to its folder.")
    title: str
    page: int | None = Field(
        None,
        description="1-based page number where the format has pages (a slide's number, a "
        "spreadsheet row's number).",
    )
    location: str | None = Field(
        None,
        description='Where the quote lies, as shown: "page 3", "slide 2", "Sheet Sales, row '
        '14"; null for a document without pages.',
    )
    quote: str = Field(description="The exact text quoted from the document.")
    score: float = Field(description="How strongly the quote answers the question (0..1).")
    chunk_id: str = Field(description="Id of the chunk the quote comes from.")
    offset: int = Field(description="Character offset of the quote in the document (page).")
    verified: bool = Field(
        True,
        description="True when the chunk supports every sentence citing it (a quoted sentence "
        "always does; a generated one is checked after generation).",
    )
    url: str | None = Field(
        None,
        description="For a page of a web source: its address, at the quoted text (a "
        "`#:~:text=` fragment, which browsers that support it scroll to and highlight); null "
        "for a document from a file.",
    )

    @classmethod
    def quoting(
        cls,
        n: int,
        chunk: Document,
        quote: str,
        score: float,
        verified: bool = True,
        at: int | None = None,
    ) -> Citation:
        """Citation [n] of ``chunk``, quoting ``quote``, which starts at ``at`` in the chunk
        (found by search when not given)."""
        found = chunk.page_content.find(quote) if at is None else at
        return cls(
            n=n,
            source=chunk.metadata["source"],
            title=chunk.metadata["title"],
            page=chunk.metadata.get("page"),
            location=location(chunk.metadata),
            quote=quote,
            score=round(score, 4),
            chunk_id=chunk.id or "",
            offset=chunk.metadata.get("offset", 0) + max(found, 0),
            verified=verified,
            url=text_fragment(page, quote) if (page := chunk.metadata.get("url")) else None,
        )


class Related(BaseModel):
    """A passage close to a refused question: where to read on, never an answer (it carries
    no citation number and no evaluation counts it)."""

    source: str = Field(description="Path of the document, relative to its folder.")
    title: str
    page: int | None = Field(None, description="As a citation's: the page, slide or row.")
    location: str | None = Field(None, description='As a citation\'s: "page 3", "slide 2"…')
    excerpt: str = Field(description="A short excerpt of the passage, as the document has it.")
    chunk_id: str = Field(description="Id of the chunk the excerpt comes from.")
    offset: int = Field(description="Character offset of the excerpt in the document (page).")
    url: str | None = Field(None, description="As a citation's: a web page at the excerpt.")

    @classmethod
    def of(cls, chunk: Document, excerpt: str, at: int) -> Related:
        """The passage of ``chunk`` shown by ``excerpt``, which starts at ``at`` in it."""
        meta = chunk.metadata
        return cls(
            source=meta["source"],
            title=meta["title"],
            page=meta.get("page"),
            location=location(meta),
            excerpt=excerpt,
            chunk_id=chunk.id or "",
            offset=meta.get("offset", 0) + at,
            url=text_fragment(page, excerpt) if (page := meta.get("url")) else None,
        )


class Answer(BaseModel):
    """What every face returns for a question."""

    answer: str
    refused: bool = Field(description="True when the documents do not contain the answer.")
    short_answer: str | None = Field(
        None,
        description="The answer in a few words (a name, date, amount, or the defining phrase), "
        "taken from the first citation's quote, by the extractive answerer; null when the "
        "question asks for no such span, and from generative answerers.",
    )
    citations: list[Citation] = Field(default_factory=list)
    unsupported: list[str] = Field(
        default_factory=list,
        description="Generated sentences no retrieved chunk grounds: dropped from the answer, or "
        "kept and flagged (setting answer.unsupported).",
    )
    related: list[Related] = Field(
        default_factory=list,
        description="When refused: up to three passages closest to the question, among the "
        "chunks retrieved from what the caller may read, to read on; not an answer. Empty "
        "when answered.",
    )
    question_id: str | None = Field(
        None,
        description="The question log's id of this question, when the server kept it: send it "
        "with feedback on this answer.",
    )

    def plain_text(self) -> str:
        """The answer without citation markers."""
        return strip_markers(self.answer)

    def withheld(self) -> bool:
        """True when the ``unsupported`` sentences were dropped from the answer (policy
        "drop"), False when they are kept in it, flagged."""
        shown = self.plain_text()
        return not any(sentence in shown for sentence in self.unsupported)


def cited_numbers(sentence: str) -> list[int]:
    """The numbers of every [n] or [n, m] marker in ``sentence``, in order."""
    return [int(n) for group in CITATION_MARKER.findall(sentence) for n in group.split(",")]


def strip_markers(text: str) -> str:
    """``text`` without its citation markers."""
    return CITATION_MARKER.sub("", text).strip()


def cite(sentence: str, numbers: list[int]) -> str:
    """Put citation markers before the sentence's final full stop: "… plans [1]."."""
    if not numbers:
        return sentence
    marks = "".join(f"[{n}]" for n in numbers)
    if sentence[-1] in ".!?":
        return f"{sentence[:-1]} {marks}{sentence[-1]}"
    return f"{sentence} {marks}" if sentence[-1] in '"”’)' else f"{sentence} {marks}."
