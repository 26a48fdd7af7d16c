"""What an operator sees: one log line per question (never its text or its author), through
the real chain; per-call options on the one chain; Prometheus metrics are in test_server.py."""

from __future__ import annotations

import logging
import re

import pytest

from qa_bot.chain import QaChain
from qa_bot.errors import BadQuestionError, UnknownNameError

QUESTION = "What did TSMC decide?"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "qa_bot.questions"]


def test_each_question_logs_one_line(chain: QaChain, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qa_bot.questions")
    answer = chain.ask(QUESTION, top_k=3)
    list(chain.stream("What is the capital of Peru?"))
    first, second = _lines(caplog)
    fields = dict(pair.split("=", 1) for pair in first.split()[1:])
    assert fields["answerer"] == "extractive" and fields["k"] == "3" and fields["chunks"] == "3"
    assert fields["refused"] == "false" and fields["citations"] == str(len(answer.citations))
    assert 0 < float(fields["top_score"]) <= 1
    stages = ("standalone_ms", "retrieve_ms", "answer_ms")
    assert all(float(fields[s]) >= 0 for s in stages)
    assert float(fields["total_ms"]) >= float(fields["retrieve_ms"])
    assert "refused=true" in second and "k=5" in second
    assert "TSMC" not in first and "Peru" not in second  # the question itself is not logged
    assert re.fullmatch(r"[0-9a-f]{12}", fields["id"])


def test_failures_are_logged_and_names_from_requests_are_quoted(
    chain: QaChain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qa_bot.questions")
    with pytest.raises(BadQuestionError):
        chain.ask("   ")
    with pytest.raises(BadQuestionError, match="top_k must be between 1 and 50"):
        chain.ask(QUESTION, top_k=0)
    with pytest.raises(UnknownNameError):
        chain.ask(QUESTION, answerer="x\nquestion id=forged")
    empty, bounds, forged = _lines(caplog)
    assert "error=BadQuestionError" in empty and "error=BadQuestionError" in bounds
    assert "\n" not in forged and 'answerer="x\\nquestion id=forged"' in forged


def test_options_per_call_build_nothing(chain: QaChain) -> None:
    retriever, answerer = chain.retriever, chain.answerer
    assert [len(chain.retrieve(QUESTION, top_k=k)) for k in (1, 2, 7)] == [1, 2, 7]
    assert chain.answerer_named("extractive") is answerer
    assert chain.retriever is retriever and not chain._variants
