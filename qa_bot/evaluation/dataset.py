"""Eval cases: qa-bot's JSONL format, or the official SQuAD 2.0 JSON format."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from qa_bot.errors import QaBotError
from qa_bot.evaluation.squad import load_squad, write_corpus
from qa_bot.storage.questions import LoggedQuestion, QuestionLog


class Case(BaseModel):
    """One question to ask, and what a good reply looks like (see evals/README.md)."""

    id: str
    question: str
    history: list[tuple[str, str | None]] = Field(default_factory=list)
    answerable: bool
    reference: str | None = None
    gold_quote: str | None = None
    must_include_any: list[list[str]] = Field(default_factory=list)
    answers: list[str] = Field(default_factory=list, description="SQuAD gold answers.")
    gold_source: str | None = Field(None, description="SQuAD: the paragraph's document.")


def load_jsonl(path: Path) -> list[Case]:
    """Cases from a JSONL file, one object a line; blank lines and ``//`` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")  # only \n ends a line (JSONL)
    except OSError as err:
        raise QaBotError(f"Cannot read the dataset {path}: {err.strerror or err}.") from err
    cases = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            cases.append(Case.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as err:
            reason = str(err).splitlines()[0]
            raise QaBotError(f"{path}, line {number} is not a valid case: {reason}.") from err
    if not cases:
        raise QaBotError(f"The dataset {path} holds no cases.")
    return cases


def load_squad_cases(path: Path, corpus: Path) -> list[Case]:
    """Cases from a SQuAD 2.0 file; its paragraphs are written to ``corpus`` as documents."""
    paragraphs, questions = load_squad(path)
    write_corpus(paragraphs, corpus)
    return [
        Case(
            id=q.id,
            question=q.question,
            answerable=q.answerable,
            reference=q.answers[0] if q.answers else None,
            answers=list(q.answers),
            gold_source=q.source,
        )
        for q in questions
    ]


def case_from_question(logged: LoggedQuestion, expected: str | None) -> Case:
    """An eval case from a logged question, with its history: answerable with ``expected`` as
    the reference when one is typed; without one, a refused question becomes an unanswerable
    case (it must stay refused). An answered question needs the answer it should give: a case
    is never written from the bot's own answer."""
    reference = (expected or "").strip() or None
    if reference is None and not logged.refused:
        raise QaBotError(
            f"Question {logged.id} was answered: type the answer it should give (its expected "
            "answer), or export refused questions only."
        )
    return Case(
        id=f"log-{logged.id}",
        question=logged.question,
        history=logged.history,
        answerable=reference is not None,
        reference=reference,
    )


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
"""What JSON may leave raw in a string but other readers (``str.splitlines``, editors, some
JSONL tools) take for the end of a line: written escaped, so a case is always one line."""


def cases_jsonl(cases: list[Case]) -> str:
    """Cases as the lines of an ``evals/datasets/*.jsonl`` file (``load_jsonl`` reads them):
    one JSON object a line, whatever line breaks their texts hold."""
    return "".join(
        case.model_dump_json(exclude_defaults=True).translate(_LINE_BREAKS) + "\n" for case in cases
    )


def export_questions(log: QuestionLog, picks: list[tuple[str, str | None]]) -> str:
    """The logged questions picked by id, each with its expected answer (or None), as JSONL
    eval cases, one per question; an unknown id or an answered question without an expected
    answer is one sentence, and nothing is exported."""
    expected = dict(picks)  # a question picked twice is one case: the last answer typed
    found = log.picked(list(expected))
    return cases_jsonl([case_from_question(q, expected[q.id]) for q in found])
