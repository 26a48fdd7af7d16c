"""Chat models by name, and what a generative answerer does with one before grounding (which
needs spaCy, so it is tested on the real tiers): bounded replies, empty replies, follow-up
rewrites and their fallback."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from qa_bot.answer.base import REFUSAL
from qa_bot.answer.generative import GenerativeAnswerer
from qa_bot.chain import QaChain
from qa_bot.errors import GeneratorError
from qa_bot.records import Answer
from qa_bot.registry import CHAT_MODELS
from tests.unit.fakes import REPLIES, SCRIPTED

HISTORY = [("What is Project Crystal Land?", "A plan for industrial parks [1].")]


def _answerer(chain: QaChain, *replies: str) -> GenerativeAnswerer:
    REPLIES[:] = replies
    return GenerativeAnswerer.over(SCRIPTED, chain.settings, chain.store)


def test_a_reply_is_bounded_to_max_tokens(unit_chain: QaChain) -> None:
    REPLIES[:] = [" ".join(str(n) for n in range(100))]  # 199 pieces: words and spaces
    bounded = unit_chain.settings.updated(openai={"max_tokens": 16})
    chat = CHAT_MODELS.get(SCRIPTED)(bounded)
    assert "".join(chat.generate([HumanMessage("Count.")])) == "0 1 2 3 4 5 6 7 "


def test_a_follow_up_is_rewritten_by_the_model_or_without_it(unit_chain: QaChain) -> None:
    rewritten = _answerer(unit_chain, "Who would fund Project Crystal Land?")
    assert rewritten.standalone("Who would fund it?", HISTORY) == (
        "Who would fund Project Crystal Land?"
    )
    rambling = _answerer(unit_chain, "Sure, happy to help with that")  # not a question
    assert rambling.standalone("Who would fund it?", HISTORY) == (
        "Who would fund it? (Project Crystal Land)"
    )
    silent = _answerer(unit_chain)  # a standalone question never asks the model
    assert silent.standalone("What did TSMC decide?", HISTORY) == "What did TSMC decide?"


def test_nothing_retrieved_is_a_refusal_without_asking(unit_chain: QaChain) -> None:
    *pieces, final = list(_answerer(unit_chain).stream("What did TSMC decide?", []))
    assert pieces == [REFUSAL] and isinstance(final, Answer) and final.refused


def test_an_empty_reply_is_one_sentence(unit_chain: QaChain) -> None:
    chunks = unit_chain.retrieve("What did TSMC decide?")
    with pytest.raises(GeneratorError, match="returned an empty answer: ask again"):
        list(_answerer(unit_chain, " ").stream("What did TSMC decide?", chunks))
