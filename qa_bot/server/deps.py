"""What routes depend on: the chain, the feedback store, the question log and the caller, from
the app's state."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import Depends, Request

from qa_bot.chain import QaChain
from qa_bot.server.access import Principal
from qa_bot.storage.feedback import FeedbackStore
from qa_bot.storage.questions import QuestionLog


class ApiError(Exception):
    """An HTTP error with one plain sentence as its detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def web_asset(name: str) -> str:
    """A file of the bundled web assets (``qa_bot/server/web``)."""
    return files("qa_bot.server").joinpath("web", name).read_text()


def get_chain(request: Request) -> QaChain:
    """The app's one chain."""
    chain: QaChain = request.app.state.chain
    return chain


def get_feedback(request: Request) -> FeedbackStore:
    """The app's feedback store."""
    feedback: FeedbackStore = request.app.state.feedback
    return feedback


def get_questions(request: Request) -> QuestionLog:
    """The app's question log (the chain's own)."""
    questions: QuestionLog = request.app.state.questions
    return questions


def get_principal(request: Request) -> Principal | None:
    """Who is asking, as the access middleware identified them."""
    principal: Principal | None = request.state.principal
    return principal


Chain = Annotated[QaChain, Depends(get_chain)]
"""A route parameter: the app's one chain."""
Questions = Annotated[QuestionLog, Depends(get_questions)]
"""A route parameter: the question log."""
Caller = Annotated[Principal | None, Depends(get_principal)]
"""A route parameter: who is asking (None: nobody signed in)."""
