"""Small typed records shared by the core and every face (the ``ask --json`` shape)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """One numbered source of an answer: the chunk it names and the exact sentence quoted."""

    n: int = Field(description="The number used in the answer text as [n].")
    source: str = Field(description="Path of the document, relative to the corpus folder.")
    title: str
    page: int | None = Field(None, description="1-based page number where the format has pages.")
    quote: str = Field(description="The exact text quoted from the document.")
    score: float = Field(description="How strongly the quote answers the question (0..1).")
    chunk_id: str = Field(description="Id of the chunk the quote comes from.")
    offset: int = Field(description="Character offset of the quote in the document (page).")
    verified: bool = Field(
        True,
        description="True when the chunk supports every sentence citing it (a quoted sentence "
        "always does; a generated one is checked after generation).",
    )


class Answer(BaseModel):
    """What every face returns for a question."""

    answer: str
    refused: bool = Field(description="True when the documents do not contain the answer.")
    citations: list[Citation] = Field(default_factory=list)
    unsupported: list[str] = Field(
        default_factory=list,
        description="Sentences of the answer that no retrieved chunk supports (shown marked).",
    )
