"""``/api/questions``: the question log, for admins only (``needed_role``): the questions
asked, filtered, and chosen ones exported as eval cases (JSONL, as ``qa-bot eval`` reads)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from qa_bot.evaluation.dataset import export_questions
from qa_bot.server.deps import Questions
from qa_bot.storage.questions import MAX_LIMIT, MAX_TEXT, LoggedQuestion, QuestionFilter

router = APIRouter()


class Pick(BaseModel):
    """One logged question to export, with the answer it should give."""

    id: str = Field(max_length=64)
    expected: str | None = Field(
        None,
        max_length=MAX_TEXT,
        description="What a good answer says; empty: a refused question becomes an "
        "unanswerable case.",
    )


class ExportRequest(BaseModel):
    """The questions to export as eval cases."""

    cases: list[Pick] = Field(min_length=1, max_length=MAX_LIMIT)


@router.get("/api/questions", response_model=list[LoggedQuestion])
def list_questions(request: Request, questions: Questions) -> list[LoggedQuestion]:
    """The logged questions, newest first. Filters: ``refused=true|false``,
    ``rating=up|down``, ``since=`` a date (2025-01-31) or an age (7d, 12h, 2w), ``source=`` a
    cited document or folder, ``limit`` (default 100, at most 1000)."""
    return questions.find(QuestionFilter.parse(request.query_params))


@router.post("/api/questions/export", response_class=Response)
def export(body: ExportRequest, questions: Questions) -> Response:
    """The chosen questions as eval cases, one JSON object a line (``evals/datasets/*.jsonl``):
    with an expected answer, answerable with it as the reference; a refused one without,
    unanswerable."""
    picks = [(pick.id, pick.expected) for pick in body.cases]
    text = export_questions(questions, picks)
    return Response(text, media_type="application/jsonl")
