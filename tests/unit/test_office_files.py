"""Slide decks, workbooks and CSV files, made here with python-pptx, openpyxl and csv: each
slide is a page ("slide 2"), each row a part that keeps its headers ("Sheet Sales, row 3");
hidden and empty sheets are skipped; zip bombs, corrupt files and a million-row CSV are
refused or cut with one sentence, within seconds, and the other files are ingested."""

from __future__ import annotations

import csv
import time
import zipfile
from pathlib import Path

import openpyxl
import pptx
import pytest
from pptx.util import Inches

from qa_bot.chain import QaChain
from qa_bot.config import IngestSettings
from qa_bot.ingest import ingest
from qa_bot.ingest.loaders import NO_TEXT, read_file
from qa_bot.server.viewer import highlight_page, passage
from qa_bot.storage.store import Store
from tests.unit.conftest import unit_settings
from tests.unit.test_hostile_files import load_error

MB = 1024 * 1024
SALES = [
    ["Region", "Quarter", "Revenue"],
    ["EMEA", "Q3", "1.2 M"],
    ["APAC", "Q3", "2.5 M"],
    [None, None, None],
    ["LATAM", "Q4", "0.7 M"],
]


def make_deck(path: Path) -> Path:
    """A deck: a title and bullets slide with speaker notes, then a slide with a table."""
    deck = pptx.Presentation()
    deck.core_properties.title = "Harbour Expansion"
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "The new quay"
    first.placeholders[
        1
    ].text_frame.text = (
        "The new quay at Port Wendle opens in March 2026.\nIt adds four deep-water berths."
    )
    first.notes_slide.notes_text_frame.text = "The dredging costs twelve million euros."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Cranes"
    table = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([["Crane", "Lifts"], ["Gantry", "65 tonnes"], ["Mobile", "40 t"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.save(str(path))
    return path


def make_workbook(path: Path) -> Path:
    """A workbook: "Sales" (a blank row inside), "Codes" (hidden) and "Notes" (empty)."""
    book = openpyxl.Workbook()
    sales = book.active
    sales.title = "Sales"
    for row in SALES:
        sales.append(row)
    codes = book.create_sheet("Codes")
    codes.append(["Door", "Code"])
    codes.append(["Vault", "Vault code 4711"])
    codes.sheet_state = "hidden"
    book.create_sheet("Notes")
    book.save(path)
    return path


def make_csv(path: Path, rows: int, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    """A CSV of ``rows`` ferry departures under a header, written row by row."""
    with path.open("w", newline="", encoding=encoding) as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(["Ferry", "Destination", "Departure"])
        writer.writerows([f"Ferry {n}", f"Île {n}", f"{n % 24:02d}:15"] for n in range(rows))
    return path


def with_zeros(path: Path, megabytes: int) -> Path:
    """``path`` (an Office file) plus a part of ``megabytes`` MB of zeros, deflated."""
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("media/zeros.bin", "w", force_zip64=True) as part,
    ):
        for _ in range(megabytes):
            part.write(bytes(MB))
    return path


def test_each_slide_is_a_page_with_its_title_text_table_and_notes(tmp_path: Path) -> None:
    first, second = read_file(make_deck(tmp_path / "deck.pptx"), "deck.pptx").documents
    assert first.metadata == {
        "source": "deck.pptx",
        "title": "Harbour Expansion",
        "page": 1,
        "page_label": "slide",
    }
    assert first.page_content == (
        "The new quay\n\nThe new quay at Port Wendle opens in March 2026.\n"
        "It adds four deep-water berths.\n\nThe dredging costs twelve million euros."
    )
    assert second.metadata["page"] == 2
    assert second.page_content == (
        "Cranes\n\nCrane: Gantry · Lifts: 65 tonnes.\nCrane: Mobile · Lifts: 40 t."
    )


def test_each_row_keeps_its_headers_and_hidden_or_empty_sheets_are_skipped(
    tmp_path: Path,
) -> None:
    loaded = read_file(make_workbook(tmp_path / "sales.xlsx"), "sales.xlsx")
    assert loaded.cut is None
    assert [
        (d.page_content, d.metadata["page_label"], d.metadata["page"]) for d in loaded.documents
    ] == [
        ("Region: EMEA · Quarter: Q3 · Revenue: 1.2 M.", "Sheet Sales, row", 2),
        ("Region: APAC · Quarter: Q3 · Revenue: 2.5 M.", "Sheet Sales, row", 3),
        ("Region: LATAM · Quarter: Q4 · Revenue: 0.7 M.", "Sheet Sales, row", 5),
    ]


def test_csv_in_a_windows_encoding_and_its_own_delimiter_is_read(tmp_path: Path) -> None:
    path = make_csv(tmp_path / "ferries.csv", 3, encoding="cp1252", delimiter=";")
    documents = read_file(path, "ferries.csv").documents
    assert documents[1].page_content == "Ferry: Ferry 1 · Destination: Île 1 · Departure: 01:15."
    assert documents[1].metadata["page_label"] == "row" and documents[1].metadata["page"] == 3


def test_a_million_row_csv_is_cut_at_the_row_limit_in_seconds(tmp_path: Path) -> None:
    path = make_csv(tmp_path / "ferries.csv", 1_000_000)
    started = time.monotonic()
    loaded = read_file(path, "ferries.csv", IngestSettings(max_rows=1000))
    assert time.monotonic() - started < 10
    assert len(loaded.documents) == 1000
    assert loaded.cut == (
        "only its first 1,000 rows were read (raise QA_BOT_INGEST__MAX_ROWS to read them all)"
    )


def test_cells_past_their_limit_are_cut(tmp_path: Path) -> None:
    loaded = read_file(make_workbook(tmp_path / "s.xlsx"), "s.xlsx", IngestSettings(max_cells=7))
    assert len(loaded.documents) == 2
    assert loaded.cut == (
        "only the rows within its first 7 cells were read "
        "(raise QA_BOT_INGEST__MAX_CELLS to read them all)"
    )


@pytest.mark.parametrize(("name", "make"), [("deck.pptx", make_deck), ("book.xlsx", make_workbook)])
def test_office_zip_bombs_are_refused(tmp_path: Path, name: str, make: object) -> None:
    path = with_zeros(make(tmp_path / name), 20)  # type: ignore[operator]
    part = zipfile.ZipFile(path).getinfo("media/zeros.bin")
    ratio = part.file_size // part.compress_size
    started = time.monotonic()
    assert load_error(path) == f"its part media/zeros.bin is compressed {ratio}:1, like a zip bomb"
    assert load_error(path, IngestSettings(max_unpacked_mb=10)).startswith("it unpacks to ")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "deck.pptx",
            b"PK\x03\x04 not a zip",
            "it is not a readable PowerPoint file (not a zip archive)",
        ),
        (
            "book.xlsx",
            b"PK\x03\x04 not a zip",
            "it is not a readable Excel file (not a zip archive)",
        ),
        ("data.csv", b"\x00\x01\x02binary", "it looks like a binary file, not text"),
        (
            "data.csv",
            b"only,a,header\n",
            NO_TEXT,
        ),
    ],
)
def test_corrupt_files_are_refused_with_a_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert load_error(path) == reason


@pytest.mark.parametrize(("name", "kind"), [("deck.pptx", "PowerPoint"), ("book.xlsx", "Excel")])
def test_a_zip_that_is_no_office_file_is_refused(tmp_path: Path, name: str, kind: str) -> None:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "just a zip")
    assert load_error(path).startswith(f"it is not a readable {kind} file (")


def test_a_folder_of_office_files_is_ingested_and_answered_with_its_places(
    tmp_path: Path,
) -> None:
    """Through the workers: the bomb and the corrupt file are skipped, the huge CSV is cut
    with one sentence, the rest is ingested and cited by slide, sheet and row."""
    folder = tmp_path / "docs"
    folder.mkdir()
    make_deck(folder / "harbour.pptx")
    make_workbook(folder / "sales.xlsx")
    make_csv(folder / "ferries.csv", 1_000_000)
    with_zeros(make_deck(folder / "bomb.pptx"), 20)
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 truncated")
    (folder / "menu.txt").write_text("The canteen serves lentil soup on Thursdays.\n")
    store = Store.open(unit_settings(tmp_path / "data", ingest={"max_rows": 300}))
    started = time.monotonic()
    report = ingest(store, folder)
    assert time.monotonic() - started < 120  # generous: it catches a hang, not a slow machine
    assert sorted(report.added) == [
        "docs/ferries.csv",
        "docs/harbour.pptx",
        "docs/menu.txt",
        "docs/sales.xlsx",
    ]
    assert [name for name, _ in report.failed] == ["docs/bomb.pptx", "docs/broken.xlsx"]
    assert report.cut == [
        (
            "docs/ferries.csv",
            "only its first 300 rows were read (raise QA_BOT_INGEST__MAX_ROWS to read them all)",
        )
    ]
    chain = QaChain(store)
    answer = chain.ask("What revenue did LATAM make in Q4?", only=["docs/sales.xlsx"])
    [cited, *_] = answer.citations
    assert cited.quote == "Region: LATAM · Quarter: Q4 · Revenue: 0.7 M."
    assert cited.location == "Sheet Sales, row 5" and cited.page == 5
    shown = passage(chain, None, cited.chunk_id, cited.offset, cited.offset + len(cited.quote))
    assert (shown.location, shown.text) == ("Sheet Sales, row 5", cited.quote)
    assert "· Sheet Sales, row 5" in highlight_page(shown)
    answer = chain.ask("When does the new quay open?", only=["docs/harbour.pptx"])
    assert answer.citations[0].location == "slide 1"
    assert "March 2026" in answer.citations[0].quote
    assert not any("4711" in c.page_content for c in store.chunks("docs/sales.xlsx"))
