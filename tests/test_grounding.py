"""Claim grounding with the real spaCy pipeline: names, numbers and polarity must be found in
the supporting sentence or its chunk, whatever their spelling."""

from __future__ import annotations

import pytest

from qa_bot.answer.grounding import facts, keys, missing, negated, surroundings
from qa_bot.chain import QaChain
from qa_bot.text import chunk_sentences


@pytest.mark.parametrize(
    ("claim", "source"),
    [
        ("Japan pledged $550 billion.", "Japan pledged 550 billion dollars."),
        ("Tariffs fell to 15%.", "Tariffs fell to 15 percent."),
        ("Tariffs fell to 15 per cent.", "Tariffs fell to 15%."),
        ("TSMC opted out.", "Some companies, including Taiwan’s TSMC, have opted out."),
        ("It took 1,000 workers.", "It took 1000 workers."),
        ("Two firms left.", "2 firms left."),
        ("Son met Trump on Nov. 12, 2025.", "On Nov. 12, 2025, Son met Trump."),
        ("Son met Trump on November 12, 2025.", "On Nov. 12, 2025, Son met Trump."),
        ("Fifty firms left.", "50 firms left."),
        ("Japan pledged the money.", "The money came from Japanese investment."),
        ("The Chinese city is Shenzhen.", "China’s Shenzhen is the city."),
    ],
)
def test_the_same_fact_in_another_spelling_is_found(claim: str, source: str) -> None:
    assert facts(claim), claim  # there is something to check
    assert missing(facts(claim), source) == []


@pytest.mark.parametrize(
    ("claim", "source", "absent"),
    [
        ("Samsung opted out.", "Taiwan’s TSMC opted out.", "Samsung"),
        ("John Smithers runs the project.", "Masayoshi Son runs the project.", "John Smithers"),
        ("Japan pledged $600 billion.", "Japan pledged $550 billion.", "$600 billion"),
        ("Tariffs fell to 12%.", "Tariffs fell from 25% to 15%.", "12%"),
        ("It was added in version 3.12.", "New in version 3.6.", "3.12"),
        ("Austria joined.", "Australia joined.", "Austria"),
        ("Intel opted out.", "Intelligence agencies opted out.", "Intel"),
        ("It cost ₹500.", "It cost $500.", "₹500"),
    ],
)
def test_an_invented_name_or_number_is_missing(claim: str, source: str, absent: str) -> None:
    assert [f.text for f in missing(facts(claim), source)] == [absent]


def test_vague_dates_and_fillers_are_not_facts() -> None:
    assert facts("Recently, the plan changed.") == []
    assert keys("The Acme Corp. and the plan") == ["acme", "plan"]


@pytest.mark.parametrize(
    ("text", "negative"),
    [
        ("TSMC opted out of the plan.", True),
        ("TSMC did not join the plan.", True),
        ("TSMC declined to join.", True),
        ("TSMC never joined.", True),
        ("TSMC joined the plan.", False),
        ("TSMC is a chip maker.", False),
        ("Don’t hesitate to explore related content.", False),
        ("It is not only fast but safe.", False),
        ("TSMC declined to join.", True),
        ("The plan was rejected.", True),
        ("Shares declined 5% on Monday.", False),
        ("Users can withdraw funds at any time.", False),
    ],
)
def test_polarity(text: str, negative: bool) -> None:
    assert negated(text) is negative


def test_names_must_be_next_to_the_quoted_sentence(chain: QaChain) -> None:
    """A name elsewhere in the chunk does not ground a claim; one in the next sentence does."""
    chunk = next(c for c in chain.retrieve("What did TSMC decide?") if "TSMC" in c.page_content)
    spans = chunk_sentences(chunk)
    tsmc = next(i for i, s in enumerate(spans) if "TSMC" in s.text)
    around = surroundings(chunk, spans[tsmc].text)
    assert spans[tsmc].text in around
    assert all(s.text in around for s in spans[max(0, tsmc - 1) : tsmc + 2])
    assert all(s.text not in around for s in spans[tsmc + 2 :] + spans[: max(0, tsmc - 1)])
