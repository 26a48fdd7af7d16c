"""Each supported format loads with its title and page; broken files fail with a reason."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from qa_bot.ingest.loaders import NO_TEXT, LoadError, load_file


def make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    """Write a real text PDF, one string a page."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.output(str(path))
    return path


def test_txt_title_is_first_line(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Quarterly Report\n\nSales rose by 4% in March.\n")
    [doc] = load_file(path, "note.txt")
    assert doc.metadata == {"source": "note.txt", "title": "Quarterly Report"}
    assert "Sales rose by 4% in March." in doc.page_content


def test_markdown_title_is_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("Intro line without hash\n\n## Setup Guide\n\nRun the installer twice.\n")
    [doc] = load_file(path, "docs/guide.md")
    assert doc.metadata["title"] == "Setup Guide"
    assert doc.metadata["source"] == "docs/guide.md"


def test_html_drops_scripts_and_keeps_title(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Office Hours</title><script>alert('x')</script></head>"
        "<body><h1>Hours</h1><p>The office opens at 9 am.</p><style>p{}</style></body></html>"
    )
    [doc] = load_file(path, "page.html")
    assert doc.metadata["title"] == "Office Hours"
    assert "The office opens at 9 am." in doc.page_content
    assert "alert" not in doc.page_content and "p{}" not in doc.page_content


def test_html_reads_as_a_browser_shows_it(tmp_path: Path) -> None:
    """Inline markup does not break sentences; navigation, footers, comments and "¶" anchors
    are not text; a one-paragraph <dd> stays on its term's line."""
    path = tmp_path / "page.html"
    path.write_text(
        "<!DOCTYPE html><html><body><nav>Home | Next topic</nav>"
        "<!-- internal: do not publish -->"
        '<h1>Sorting<a class="headerlink" href="#s">¶</a></h1>'
        "<dl><dt>Author:</dt>\n<dd><p>Andrew Dalke</p></dd></dl>"
        "<p>Lists have a\nbuilt-in <code>list.sort()</code> method.</p>"
        "<pre>x = [3,\n     1]</pre><footer>© Copyright</footer></body></html>"
    )
    [doc] = load_file(path, "page.html")
    text = doc.page_content
    assert "Lists have a built-in list.sort() method." in text
    assert "Author: Andrew Dalke" in text and "x = [3,\n" in text  # <pre> keeps its lines
    for chrome in ("Next topic", "internal", "¶", "Copyright", "DOCTYPE", "html"):
        assert chrome not in text


def test_pdf_keeps_page_numbers_and_title(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "manual.pdf",
        ["The pump must be primed before use.", "Replace the filter every six months."],
        title="Pump Manual",
    )
    docs = load_file(path, "manual.pdf")
    assert [d.metadata["page"] for d in docs] == [1, 2]
    assert {d.metadata["title"] for d in docs} == {"Pump Manual"}
    assert "filter every six months" in docs[1].page_content


def test_docx_paragraphs_and_heading_title(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Travel Policy", level=1)
    document.add_paragraph("Economy class is required for flights under six hours.")
    path = tmp_path / "policy.docx"
    document.save(str(path))
    [doc] = load_file(path, "policy.docx")
    assert doc.metadata["title"] == "Travel Policy"
    assert "Economy class is required" in doc.page_content


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "broken.pdf",
            b"%PDF-1.4 this is not really a pdf",
            (
                "it is not a readable PDF: damaged or truncated (Stream has ended unexpectedly); "
                "export it again to ingest it"
            ),
        ),
        (
            "broken.docx",
            b"PK\x03\x04 not a zip",
            "it is not a readable Word file (not a zip archive)",
        ),
        ("binary.txt", b"\x00\x01\x02\x03binary", "it looks like a binary file, not text"),
        (
            "empty.md",
            b"   \n\n",
            NO_TEXT,
        ),
    ],
)
def test_bad_files_raise_load_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError) as caught:
        load_file(path, name)
    assert str(caught.value) == reason


def test_latin1_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Le café ouvre à sept heures.".encode("latin-1"))
    [doc] = load_file(path, "latin1.txt")
    assert doc.page_content == "Le café ouvre à sept heures."
