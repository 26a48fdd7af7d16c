"""Files a corpus really holds: any common encoding, binaries, huge or empty files, zip bombs,
truncated and encrypted PDFs. Each loads exactly, or fails with a reason, never a crash."""

from __future__ import annotations

import random
import struct
import zipfile
import zlib
from pathlib import Path

import docx
import pypdf
import pytest

from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import LoadError, load_file
from tests.unit.test_loaders import make_pdf

MB = 1024 * 1024
FRENCH = "Le café de la gare ouvre à sept heures.\n\nLes crêpes sont très appréciées, même en été."
WINDOWS = "The “smart quotes” cost €5 – a bargain… The naïve façade of the café."
WORLD = "Grüße aus Köln. Привет, мир. 東京の天気は晴れです。"


def load_error(path: Path, limits: IngestSettings | None = None) -> str:
    """The reason ``load_file`` gives for refusing ``path``."""
    with pytest.raises(LoadError) as caught:
        load_file(path, path.name, limits)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "data"),
    [
        (WORLD, WORLD.encode("utf-8")),
        (WORLD, WORLD.encode("utf-8-sig")),
        (WORLD, "\ufeff".encode("utf-16-le") + WORLD.encode("utf-16-le")),
        (WORLD, "\ufeff".encode("utf-16-be") + WORLD.encode("utf-16-be")),
        (FRENCH, FRENCH.encode("latin-1")),
        (WINDOWS, WINDOWS.encode("cp1252")),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "latin-1", "cp1252"],
)
def test_text_in_any_common_encoding_is_read_exactly(
    tmp_path: Path, text: str, data: bytes
) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(data)
    [doc] = load_file(path, "note.txt")
    assert doc.page_content == text


def test_markdown_and_html_share_the_encoding_detection(tmp_path: Path) -> None:
    markdown = tmp_path / "guide.md"
    markdown.write_bytes(f"# Köln Guide\n\n{WORLD}\n".encode("utf-16"))
    [doc] = load_file(markdown, "guide.md")
    assert doc.metadata["title"] == "Köln Guide"
    assert doc.page_content == f"# Köln Guide\n\n{WORLD}\n"

    page = tmp_path / "page.html"
    page.write_bytes(
        f"<html><head><title>Café</title></head><body><p>{WINDOWS}</p></body></html>".encode(
            "cp1252"
        )
    )
    [doc] = load_file(page, "page.html")
    assert doc.metadata["title"] == "Café"
    assert doc.page_content == WINDOWS


def png_bytes() -> bytes:
    """A real 1x1 PNG image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "data",
    [png_bytes(), random.Random(7).randbytes(4096), b"\x00\x01\x02\x03binary"],
    ids=["png", "random", "nul-bytes"],
)
def test_binary_named_txt_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(data)
    assert load_error(path) == "it looks like a binary file, not text"


@pytest.mark.parametrize("suffix", [".txt", ".html", ".pdf", ".docx"])
def test_file_over_the_size_limit_is_refused_unread(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"huge{suffix}"
    with path.open("wb") as sparse:  # 60 MB of nothing, not written to disk
        sparse.truncate(60 * MB)
    assert load_error(path) == (
        "it is 60.0 MB, over the 50 MB limit (raise QA_BOT_INGEST__MAX_FILE_MB to ingest it)"
    )


def test_size_limit_comes_from_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("A sentence that repeats.\n" * (MB * 3 // 2 // 25))
    assert load_error(path, IngestSettings(max_file_mb=1)) == (
        "it is 1.5 MB, over the 1 MB limit (raise QA_BOT_INGEST__MAX_FILE_MB to ingest it)"
    )


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".pdf", ".docx"])
def test_empty_file_is_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    assert load_error(path) == "it is empty (0 bytes)"


def docx_with_zeros(path: Path, megabytes: int) -> Path:
    """A valid Word file plus a part of ``megabytes`` MB of zeros, deflated while streamed."""
    document = docx.Document()
    document.add_paragraph("Economy class is required for flights under six hours.")
    document.save(str(path))
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/media/zeros.bin", "w", force_zip64=True) as part,
    ):
        for _ in range(megabytes):
            part.write(bytes(MB))
    return path


def test_docx_unpacking_past_the_limit_is_refused(tmp_path: Path) -> None:
    path = docx_with_zeros(tmp_path / "bomb.docx", 30)
    assert path.stat().st_size < MB
    unpacked = sum(part.file_size for part in zipfile.ZipFile(path).infolist())
    assert load_error(path, IngestSettings(max_unpacked_mb=10)) == (
        f"it unpacks to {unpacked / MB:.1f} MB, over the 10 MB limit "
        "(raise QA_BOT_INGEST__MAX_UNPACKED_MB to ingest it)"
    )


def test_docx_compressed_like_a_bomb_is_refused(tmp_path: Path) -> None:
    path = docx_with_zeros(tmp_path / "bomb.docx", 20)
    part = zipfile.ZipFile(path).getinfo("word/media/zeros.bin")
    assert load_error(path) == (
        f"its part word/media/zeros.bin is compressed {part.file_size // part.compress_size}:1, "
        "like a zip bomb"
    )


def test_docx_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "letter.docx"
    path.write_text("Dear team, this was saved as plain text.")
    assert load_error(path) == "it is not a readable Word file (not a zip archive)"


def test_truncated_pdf_is_refused(tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", ["The pump must be primed before use."] * 2)
    path = tmp_path / "truncated.pdf"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert load_error(path) == (
        "it is not a readable PDF: damaged or truncated (Stream has ended unexpectedly); "
        "export it again to ingest it"
    )


def encrypted_pdf(path: Path, user_password: str) -> Path:
    """A text PDF encrypted with RC4 (pypdf needs no extra package for it)."""
    writer = pypdf.PdfWriter(clone_from=make_pdf(path, ["The pump must be primed before use."]))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    writer.write(path)
    return path


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    path = encrypted_pdf(tmp_path / "secret.pdf", user_password="secret")
    assert load_error(path) == "it is a password-protected PDF (remove the password to ingest it)"


def test_pdf_with_only_an_owner_password_loads(tmp_path: Path) -> None:
    path = encrypted_pdf(tmp_path / "locked-copying.pdf", user_password="")
    [doc] = load_file(path, "locked-copying.pdf")
    assert doc.page_content == "The pump must be primed before use."
