"""``/api/feedback``: thumbs up / down on an answer, kept with its question and citations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from qa_bot.server.deps import get_feedback
from qa_bot.storage.feedback import Feedback, FeedbackStore

router = APIRouter()


@router.post("/api/feedback")
def add_feedback(
    body: Feedback, feedback: Annotated[FeedbackStore, Depends(get_feedback)]
) -> dict[str, int]:
    """Store a thumbs up / down with the question, answer and citations."""
    return {"id": feedback.add(body)}
