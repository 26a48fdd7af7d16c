"""``/api/feedback``: thumbs up / down on an answer, kept with its question and citations, and
with the caller's own question in the question log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from qa_bot.server.access import Principal
from qa_bot.server.deps import Caller, Questions, get_feedback
from qa_bot.storage.feedback import Feedback, FeedbackStore
from qa_bot.storage.questions import QuestionLog

router = APIRouter()


def record(
    feedback: FeedbackStore, questions: QuestionLog, item: Feedback, caller: Principal | None
) -> dict[str, int | bool]:
    """Store a verdict; ``linked``: it also rated the logged question it names, which only
    the question's own asker can do. A linked verdict is kept with that ``question_id`` and
    the question, answer and citations the log holds (not the text the client sent); any
    other is kept without an id."""
    logged = None
    if item.question_id and caller:
        logged = questions.rate(item.question_id, caller.name, item.rating)
    if logged is None:
        item = item.model_copy(update={"question_id": None})
    else:
        kept = {"question": logged.question, "answer": logged.answer}
        item = item.model_copy(update=kept | {"citations": logged.citations})
    return {"id": feedback.add(item), "linked": logged is not None}


@router.post("/api/feedback")
def add_feedback(
    body: Feedback,
    feedback: Annotated[FeedbackStore, Depends(get_feedback)],
    questions: Questions,
    caller: Caller,
) -> dict[str, int | bool]:
    """Store a thumbs up / down with the question, answer and citations (and ``question_id``,
    the answer's, to rate the caller's own question in the question log)."""
    return record(feedback, questions, body, caller)
