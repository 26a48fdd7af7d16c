"""Slide decks, workbooks and CSV files answered through the real chain (the real embedding
model and reader): the cited quote is the slide's sentence or the row, named by its slide or
by its sheet and row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qa_bot.chain import QaChain
from qa_bot.ingest import ingest
from qa_bot.storage.store import Store
from tests.unit.test_office_files import make_csv, make_deck, make_workbook


@pytest.fixture
def office_chain(tmp_path: Path, make_store: Callable[..., Store]) -> QaChain:
    """A deck, a workbook (one sheet hidden) and a CSV, ingested with the real model."""
    folder = tmp_path / "docs"
    folder.mkdir()
    make_deck(folder / "harbour.pptx")
    make_workbook(folder / "sales.xlsx")
    make_csv(folder / "ferries.csv", 40)
    store = make_store()
    report = ingest(store, folder)
    assert not report.failed and not report.cut
    return QaChain(store)


@pytest.mark.parametrize(
    ("question", "quoted", "where"),
    [
        ("When does the new quay at Port Wendle open?", "opens in March 2026", "slide 1"),
        ("What revenue did LATAM make in Q4?", "Revenue: 0.7 M", "Sheet Sales, row 5"),
        ("At what time does Ferry 17 leave?", "Ferry: Ferry 17 · Destination", "row 19"),
    ],
)
def test_the_answer_cites_the_slide_or_the_sheet_and_row(
    office_chain: QaChain, question: str, quoted: str, where: str
) -> None:
    answer = office_chain.ask(question)
    assert not answer.refused
    cited = answer.citations[0]
    assert quoted in cited.quote and cited.location == where


def test_a_hidden_sheet_is_never_an_answer(office_chain: QaChain) -> None:
    answer = office_chain.ask("What is the vault code?")
    assert not any("4711" in c.quote for c in answer.citations)
