"""Slide decks, workbooks, CSV files, scanned PDFs and screenshots answered through the real
chain (the real embedding model, reader and Tesseract): the cited quote is the slide's sentence,
the row or the OCR'd sentence, named by its slide, its sheet and row or its page; the viewer says
when the text was read by OCR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qa_bot.chain import QaChain
from qa_bot.ingest import ingest
from qa_bot.ingest.pictures import DAMAGED
from qa_bot.server.viewer import OCR_NOTE, highlight_page, passage
from qa_bot.storage.store import Store
from tests.test_ocr import FERRY, HARBOUR, SCREENSHOT, make_scan, make_screenshot, png_claiming
from tests.unit.test_office_files import make_csv, make_deck, make_workbook


@pytest.fixture
def office_chain(tmp_path: Path, make_store: Callable[..., Store]) -> QaChain:
    """A deck, a workbook (one sheet hidden), a CSV, a scanned PDF and a screenshot, ingested
    with the real model."""
    folder = tmp_path / "docs"
    folder.mkdir()
    make_deck(folder / "harbour.pptx")
    make_workbook(folder / "sales.xlsx")
    make_csv(folder / "ferries.csv", 40)
    make_scan(folder / "minutes.pdf", [HARBOUR, FERRY])
    make_screenshot(folder / "backup-error.png", SCREENSHOT)
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
        ("How much does a child's ticket to Lindholm cost?", "6 euros for children", "page 2"),
        ("What does error 5417 mean?", "the backup disk is full", "page 1"),
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


def test_the_viewer_says_a_quote_was_read_by_ocr(office_chain: QaChain) -> None:
    scanned = office_chain.ask("Until when is the north pier closed?").citations[0]
    typed = office_chain.ask("When does the new quay at Port Wendle open?").citations[0]
    assert "north pier" in scanned.quote and scanned.location == "page 1"
    views = [
        passage(office_chain, None, c.chunk_id, c.offset, c.offset + len(c.quote))
        for c in (scanned, typed)
    ]
    assert [view.ocr for view in views] == [True, False]
    assert [OCR_NOTE in highlight_page(view) for view in views] == [True, False]


def test_hostile_pictures_are_skipped_in_one_sentence_and_the_rest_answered(
    tmp_path: Path, make_store: Callable[..., Store]
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_scan(folder / "minutes.pdf", [HARBOUR, FERRY])
    png_claiming(folder / "bomb.png", 100_000, 100_000)
    (folder / "cut.jpg").write_bytes(
        make_screenshot(tmp_path / "whole.jpg", SCREENSHOT).read_bytes()[:900]
    )
    store = make_store()
    report = ingest(store, folder)
    assert dict(report.failed) == {
        "docs/bomb.png": "it is an image that claims more than 179 million pixels, like a "
        "decompression bomb",
        "docs/cut.jpg": DAMAGED,
    }
    answer = QaChain(store).ask("Where does the ferry to Lindholm leave from?")
    assert "south pier" in answer.citations[0].quote
