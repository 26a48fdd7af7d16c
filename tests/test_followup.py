"""Follow-up questions are made standalone before retrieval, without an LLM."""

from __future__ import annotations

from qa_bot.chain import QaChain
from qa_bot.followup import as_asked, needs_context, standalone_question

CRYSTAL = [("What is Project Crystal Land?", "Internally referred to as Project Crystal Land…")]


def test_only_questions_that_lean_on_context_are_rewritten() -> None:
    assert needs_context("Who would fund it?")
    assert needs_context("Why?")
    assert not needs_context("How would the industrial parks be funded?")
    assert standalone_question("Who would fund it?", []) == "Who would fund it?"
    assert standalone_question("What did TSMC decide?", CRYSTAL) == "What did TSMC decide?"
    assert standalone_question("Who would fund it?", CRYSTAL) == (
        "Who would fund it? (Project Crystal Land)"
    )


def test_follow_up_retrieves_the_funding_passage(chain: QaChain) -> None:
    query = chain.standalone("Who would fund it?", CRYSTAL)
    assert query == "Who would fund it? (Project Crystal Land)"
    followed = chain.retrieve("Who would fund it?", history=CRYSTAL)
    assert [d.id for d in followed] == [d.id for d in chain.retrieve(query)]
    assert "funded by Japanese investment" in followed[0].page_content
    answer = chain.ask("Why do some businesses hesitate to join it?", history=CRYSTAL)
    assert not answer.refused and "profitability" in answer.answer


def test_the_reader_reads_a_follow_up_as_it_was_asked(chain: QaChain) -> None:
    """Retrieval searches with the words carried over; the reader reads the question as asked
    (it never saw the carried words in training) and still refuses what the passages lack."""
    assert as_asked("Who would fund it? (Project Crystal Land)") == "Who would fund it?"
    assert as_asked("What is SQuAD (a dataset)?") == "What is SQuAD (a dataset)?"
    assert as_asked("What did TSMC decide? (Project)") == "What did TSMC decide? (Project)"
    assert chain.ask("What did Samsung decide about it?", history=CRYSTAL).refused
