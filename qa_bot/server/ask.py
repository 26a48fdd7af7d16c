"""``/api/ask`` (the JSON of ``qa-bot ask --json``) and ``/api/chat`` (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from pydantic import AliasChoices, BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from qa_bot.chain import Options, QaChain
from qa_bot.config import MAX_TOP_K, MIN_TOP_K
from qa_bot.errors import QaBotError
from qa_bot.records import Answer
from qa_bot.server.access import Principal, check_answerer, readable_groups
from qa_bot.server.deps import Caller, Chain

MAX_QUESTION = 4000  # request-size guard; the chain enforces the configured, smaller limit

router = APIRouter()


class AnswerOptions(BaseModel):
    """Per-question options every asking route takes."""

    top_k: int | None = Field(
        None, ge=MIN_TOP_K, le=MAX_TOP_K, description="Chunks handed to the answerer."
    )
    answerer: str | None = Field(
        None,
        max_length=64,
        description="A registered answerer; only admins may choose another than the default.",
    )

    def check(self, caller: Principal | None, chain: QaChain) -> Options:
        """The options as keyword arguments of the chain, once the caller may use them; the
        caller is named, so the question log keeps the question under their name, and their
        groups go with it, so only the sources they may read are searched."""
        check_answerer(caller, self.answerer, chain.settings.answer.answerer)
        chain.answerer_named(self.answerer)  # an unknown name is refused before any stream
        asker = caller.name if caller else None
        return {
            "top_k": self.top_k,
            "answerer": self.answerer,
            "asker": asker,
            "groups": readable_groups(caller),
        }


class AskRequest(AnswerOptions):
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
def ask(body: AskRequest, chain: Chain, caller: Caller) -> Answer:
    """The answer with its citations: the JSON of ``qa-bot ask --json``."""
    return chain.ask(body.question, body.history, body.only, **body.check(caller, chain))


@router.post("/api/chat")
def chat(body: AskRequest, chain: Chain, caller: Caller) -> EventSourceResponse:
    """The answer as server-sent events: ``token`` pieces, then ``answer`` (the checked
    Answer), or ``error`` with one sentence."""
    options = body.check(caller, chain)

    def events() -> Iterator[dict[str, str]]:
        try:
            for piece in chain.stream(body.question, body.history, body.only, **options):
                if isinstance(piece, Answer):
                    yield {"event": "answer", "data": piece.model_dump_json()}
                else:
                    yield {"event": "token", "data": json.dumps({"text": piece})}
        except QaBotError as error:
            yield {"event": "error", "data": json.dumps({"message": str(error)})}

    return EventSourceResponse(events())
