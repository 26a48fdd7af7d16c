"""``/api/ask`` (the JSON of ``qa-bot ask --json``) and ``/api/chat`` (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import AliasChoices, BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from qa_bot.chain import QaChain
from qa_bot.errors import QaBotError
from qa_bot.records import Answer
from qa_bot.server.deps import get_chain

MAX_QUESTION = 4000  # request-size guard; the chain enforces the configured, smaller limit

router = APIRouter()
Chain = Annotated[QaChain, Depends(get_chain)]


class AskRequest(BaseModel):
    """A question, optionally with the conversation so far and a filter of documents."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    history: list[tuple[str, str | None]] = Field(default_factory=list, max_length=50)
    only: list[str] | None = Field(
        None,
        max_length=20,
        validation_alias=AliasChoices("only", "sources"),
        description="Answer only from these documents: file or folder paths, or globs.",
    )


@router.post("/api/ask", response_model=Answer)
def ask(body: AskRequest, chain: Chain) -> Answer:
    """The answer with its citations: the JSON of ``qa-bot ask --json``."""
    return chain.ask(body.question, body.history, body.only)


@router.post("/api/chat")
def chat(body: AskRequest, chain: Chain) -> EventSourceResponse:
    """The answer as server-sent events: ``token`` pieces, then ``answer`` (the checked
    Answer), or ``error`` with one sentence."""

    def events() -> Iterator[dict[str, str]]:
        try:
            for piece in chain.stream(body.question, body.history, body.only):
                if isinstance(piece, Answer):
                    yield {"event": "answer", "data": piece.model_dump_json()}
                else:
                    yield {"event": "token", "data": json.dumps({"text": piece})}
        except QaBotError as error:
            yield {"event": "error", "data": json.dumps({"message": str(error)})}

    return EventSourceResponse(events())
