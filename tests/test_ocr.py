"""Scanned PDFs and images read by the real Tesseract: the text, its page and the OCR mark, and
hostile or broken pictures skipped with one sentence."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfWriter

from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import LoadError, read_file

HARBOUR = [
    "The harbour committee met on 4 March 2025.",
    "It decided to close the north pier for repairs until June.",
]
FERRY = [
    "The ferry to Lindholm leaves from the south pier.",
    "Tickets cost 12 euros for adults and 6 euros for children.",
]
SCREENSHOT = ["Error 5417: the backup disk is full.", "Delete old snapshots to free space."]


def page_image(lines: list[str], dpi: int = 200, noise: float = 0.0, seed: int = 0) -> Image.Image:
    """A page of ``lines`` as a scanner would give it: black text on white at ``dpi``, with
    Gaussian ``noise`` (grey levels) when asked."""
    width, height = int(8.27 * dpi), int(11.69 * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(dpi * 11 / 72))
    for i, line in enumerate(lines):
        draw.text((dpi, dpi + i * int(dpi * 0.3)), line, font=font, fill=0)
    if noise:
        pixels = np.asarray(image, dtype=np.float32)
        pixels += np.random.default_rng(seed).normal(0, noise, pixels.shape)
        image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    return image


def make_scan(path: Path, pages: list[list[str]]) -> Path:
    """A PDF of pictures only (no text layer): each page a scanned image of its lines."""
    images = [page_image(lines) for lines in pages]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=200)
    return path


def make_mixed_pdf(path: Path, typed: list[str], scanned: list[str]) -> Path:
    """A PDF whose first page has a text layer and whose second is a scan."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for line in typed:
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path.with_suffix(".typed.pdf")))
    make_scan(path.with_suffix(".scan.pdf"), [scanned])
    writer = PdfWriter()
    for part in (path.with_suffix(".typed.pdf"), path.with_suffix(".scan.pdf")):
        writer.append(str(part))
    writer.write(path)
    return path


def make_screenshot(path: Path, lines: list[str]) -> Path:
    """A screenshot-like image: text on a coloured window, saved as its suffix says."""
    image = Image.new("RGB", (1400, 300), (236, 240, 244))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    for i, line in enumerate(lines):
        draw.text((40, 60 + i * 60), line, font=font, fill=(20, 20, 30))
    image.save(path)
    return path


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG of a few dozen bytes whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = (
        chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_scanned_pdf_is_read_page_by_page_and_marked_as_ocr(tmp_path: Path) -> None:
    loaded = read_file(make_scan(tmp_path / "minutes.pdf", [HARBOUR, FERRY]), "minutes.pdf")
    assert [d.metadata["page"] for d in loaded.documents] == [1, 2]
    assert all(d.metadata["ocr"] is True for d in loaded.documents)
    assert _flat(loaded.documents[0].page_content) == " ".join(HARBOUR)
    assert _flat(loaded.documents[1].page_content) == " ".join(FERRY)


def test_only_the_pages_without_a_text_layer_are_read_by_ocr(tmp_path: Path) -> None:
    path = make_mixed_pdf(tmp_path / "mixed.pdf", HARBOUR, FERRY)
    typed, scanned = read_file(path, "mixed.pdf").documents
    assert "ocr" not in typed.metadata and "north pier" in typed.page_content
    assert scanned.metadata["ocr"] is True and scanned.metadata["page"] == 2
    assert "Lindholm" in scanned.page_content


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp"])
def test_an_image_is_read_as_its_one_page(tmp_path: Path, suffix: str) -> None:
    path = make_screenshot(tmp_path / f"error{suffix}", SCREENSHOT)
    (document,) = read_file(path, path.name).documents
    assert _flat(document.page_content) == " ".join(SCREENSHOT)
    assert document.metadata["page"] == 1 and document.metadata["ocr"] is True


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (
            IngestSettings(ocr_max_pages=1),
            "it has 2 scanned pages, over the 1-page OCR limit (raise "
            "QA_BOT_INGEST__OCR_MAX_PAGES to ingest it)",
        ),
        (
            IngestSettings(ocr_page_seconds=0.01),
            "OCR of its page 1 took more than 0.01 s (raise QA_BOT_INGEST__OCR_PAGE_SECONDS to "
            "ingest it)",
        ),
        (
            IngestSettings(ocr=False),
            "it is a scanned PDF: it needs OCR, which is off (QA_BOT_INGEST__OCR=true turns it on)",
        ),
    ],
)
def test_a_scan_past_a_limit_is_refused_in_one_sentence(
    tmp_path: Path, limits: IngestSettings, reason: str
) -> None:
    with pytest.raises(LoadError) as caught:
        read_file(make_scan(tmp_path / "minutes.pdf", [HARBOUR, FERRY]), "minutes.pdf", limits)
    assert str(caught.value) == reason


def test_without_ocr_a_mixed_pdf_keeps_its_typed_pages_and_says_what_it_left(
    tmp_path: Path,
) -> None:
    path = make_mixed_pdf(tmp_path / "mixed.pdf", HARBOUR, FERRY)
    loaded = read_file(path, "mixed.pdf", IngestSettings(ocr=False))
    assert [d.metadata["page"] for d in loaded.documents] == [1]
    assert loaded.cut == (
        "1 scanned pages left out: it needs OCR, which is off (QA_BOT_INGEST__OCR=true turns it on)"
    )


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [
        (
            9_000,
            9_000,
            "it is an image of 9000 x 9000 pixels, over the 60 megapixel limit (raise "
            "QA_BOT_INGEST__OCR_MAX_MEGAPIXELS to ingest it)",
        ),
        (
            100_000,
            100_000,
            "it is an image that claims more than 179 million pixels, like a decompression bomb",
        ),
    ],
)
def test_an_image_bomb_is_refused_before_its_pixels_are_decoded(
    tmp_path: Path, width: int, height: int, reason: str
) -> None:
    path = png_claiming(tmp_path / "bomb.png", width, height)
    assert path.stat().st_size < 200
    with pytest.raises(LoadError) as caught:
        read_file(path, "bomb.png")
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("name", "content"),
    [("cut.png", "half"), ("fake.jpg", "text"), ("empty-frames.tif", "garbage")],
)
def test_a_broken_image_is_refused_in_one_sentence(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    whole = make_screenshot(tmp_path / f"whole{Path(name).suffix}", SCREENSHOT).read_bytes()
    data = {
        "half": whole[: len(whole) // 2],
        "text": b"this is not a picture",
        "garbage": whole[:8] + bytes(range(256)) * 4,
    }
    path.write_bytes(data[content])
    with pytest.raises(LoadError, match=r"^it is not a readable image"):
        read_file(path, name)
