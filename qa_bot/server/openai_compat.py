"""``/v1``: OpenAI-compatible chat completions (stream or not), so any OpenAI client or wiki chat
plugin can ask qa-bot; citations travel in an extra ``citations`` field."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from qa_bot.errors import QaBotError
from qa_bot.followup import History, history_from_messages
from qa_bot.records import Answer
from qa_bot.server.ask import AnswerOptions
from qa_bot.server.deps import ApiError, Caller, Chain

router = APIRouter(prefix="/v1")


class ChatMessage(BaseModel):
    """One OpenAI chat message; only text content is read."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content)
        return self.content or ""


class CompletionRequest(AnswerOptions):
    """The part of an OpenAI chat-completions request qa-bot uses, and qa-bot's own options
    (``top_k``, ``answerer``: ``extra_body`` in OpenAI's clients)."""

    model: str = Field("qa-bot", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False

    def question_and_history(self) -> tuple[str, History]:
        """The last user message, and the earlier user/assistant turns."""
        if self.messages[-1].role != "user":
            raise ApiError(400, "The last message must be the user's question.")
        turns = history_from_messages((m.role, m.text) for m in self.messages)
        return turns[-1][0], turns[:-1]


def _completion(answer: Answer, model: str, completion_id: str) -> dict[str, Any]:
    """An OpenAI chat completion carrying the answer; citations in an extra field."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": "stop",
            }
        ],
        "citations": [c.model_dump() for c in answer.citations],
        "refused": answer.refused,
        "related": [r.model_dump() for r in answer.related],
        "unsupported": answer.unsupported,
    }


def _chunk(
    completion_id: str, model: str, delta: dict[str, str], finish: str | None = None
) -> dict[str, Any]:
    """One OpenAI ``chat.completion.chunk``."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@router.post("/chat/completions", response_model=None)
def completions(
    body: CompletionRequest, chain: Chain, caller: Caller
) -> dict[str, Any] | EventSourceResponse:
    """OpenAI-compatible chat completions (stream or not); citations in ``citations``."""
    question, history = body.question_and_history()
    options = body.check(caller, chain)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if not body.stream:
        return _completion(chain.ask(question, history, **options), body.model, completion_id)

    def events() -> Iterator[str]:
        yield json.dumps(_chunk(completion_id, body.model, {"role": "assistant"}))
        try:
            for piece in chain.stream(question, history, **options):
                if isinstance(piece, Answer):
                    final = _chunk(completion_id, body.model, {}, "stop")
                    final["answer"] = piece.answer  # grounded: what the streamed text became
                    final["refused"] = piece.refused
                    final["citations"] = [c.model_dump() for c in piece.citations]
                    final["related"] = [r.model_dump() for r in piece.related]
                    final["unsupported"] = piece.unsupported
                    yield json.dumps(final)
                else:
                    yield json.dumps(_chunk(completion_id, body.model, {"content": piece}))
        except QaBotError as error:
            yield json.dumps({"error": {"message": str(error), "type": "qa_bot_error"}})
        yield "[DONE]"

    return EventSourceResponse(events())


@router.get("/models")
def models() -> dict[str, Any]:
    """The one model this server offers, for OpenAI clients that list models."""
    return {"object": "list", "data": [{"id": "qa-bot", "object": "model"}]}
