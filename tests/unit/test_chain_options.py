"""The chain's plumbing on the unit tier: per-call options on the one chain, the history cut
once, one log line per question (never its text or its author). Prometheus metrics over HTTP
are in tests/test_server.py."""

from __future__ import annotations

import logging
import re

import pytest

from qa_bot.chain import QaChain
from qa_bot.errors import BadQuestionError, UnknownNameError
from qa_bot.followup import standalone_question

QUESTION = "What did TSMC decide?"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "qa_bot.questions"]


def test_each_question_logs_one_line(unit_chain: QaChain, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qa_bot.questions")
    answer = unit_chain.ask(QUESTION, top_k=3)
    list(unit_chain.stream("What is the capital of Peru?"))
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
    unit_chain: QaChain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qa_bot.questions")
    with pytest.raises(BadQuestionError):
        unit_chain.ask("   ")
    with pytest.raises(BadQuestionError, match="top_k must be between 1 and 50"):
        unit_chain.ask(QUESTION, top_k=0)
    with pytest.raises(UnknownNameError):
        unit_chain.ask(QUESTION, answerer="x\nquestion id=forged")
    empty, bounds, forged = _lines(caplog)
    assert "error=BadQuestionError" in empty and "error=BadQuestionError" in bounds
    assert "\n" not in forged and 'answerer="x\\nquestion id=forged"' in forged


def test_options_per_call_build_nothing(unit_chain: QaChain) -> None:
    shallow = unit_chain.variant(retrieval={"candidates": 3})  # a first stage of 3
    assert len(shallow.retrieve(QUESTION, top_k=7)) == 7  # a call asking more goes deeper
    retriever, answerer = unit_chain.retriever, unit_chain.answerer
    variants = dict(unit_chain._variants)
    assert [len(unit_chain.retrieve(QUESTION, top_k=k)) for k in (1, 2, 7)] == [1, 2, 7]
    assert unit_chain.answerer_named("extractive") is answerer
    assert unit_chain.retriever is retriever and unit_chain._variants == variants


def test_history_is_cut_once_by_the_chain(unit_chain: QaChain) -> None:
    history = [(f"What about Topic{i}?", None) for i in range(10)]
    kept = unit_chain.variant(answer={"max_history_turns": 2}).standalone("And it?", history)
    assert "Topic9" in kept and "Topic8" in kept and "Topic7" not in kept
    none = unit_chain.variant(answer={"max_history_turns": 0})
    assert none.standalone("And it?", history) == "And it?"
    assert standalone_question("And it?", history[-1:]) == "And it? (Topic9)"


def test_an_answerer_is_built_once_per_name(unit_chain: QaChain) -> None:
    extractive = unit_chain.answerer_named("extractive")
    assert unit_chain.answerer_named(None) is extractive is unit_chain.answerer
    answer = unit_chain.ask("How much did Japan pledge?", answerer="extractive")
    assert not answer.refused and "$550 billion" in answer.answer
