"""Scanned PDFs and images read by the real Tesseract: the text, its page and the OCR mark, and
hostile or broken pictures skipped with one sentence."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytesseract
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter
from pypdf.generic import RectangleObject

from qa_bot.config import IngestSettings
from qa_bot.ingest import ingest
from qa_bot.ingest.loaders import LoadError, read_file
from qa_bot.ingest.pictures import DAMAGED
from qa_bot.storage.store import Store

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


def pdf_with_pages(path: Path, scanned: list[list[str]], boxes: list[tuple[float, ...]]) -> Path:
    """A scan of the ``scanned`` pages, then a blank page for each box: (width, height) points,
    or (width, height, and a crop box's x0, y0, x1, y1)."""
    scan = io.BytesIO()
    images = [page_image(lines) for lines in scanned]
    images[0].save(scan, "PDF", save_all=True, append_images=images[1:], resolution=200)
    writer = PdfWriter(clone_from=PdfReader(scan))
    for box in boxes:
        page = writer.add_blank_page(box[0], box[1])
        if len(box) > 2:
            page.cropbox = RectangleObject(box[2:])
    writer.write(path)
    return path


def tiff_with_frames(
    path: Path, frames: int, second: dict[int, tuple[int, int]] | None = None
) -> Path:
    """A TIFF of ``frames`` frames of 4 x 4 pixels; ``second`` changes the second frame's
    tags (tag: its new number and short value) as a damaged file has them."""
    images = [Image.new("L", (4, 4), 255) for _ in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:])
    data = bytearray(path.read_bytes())
    (first,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, first)
    (at,) = struct.unpack_from("<I", data, first + 2 + 12 * count)  # the second frame's tags
    (count,) = struct.unpack_from("<H", data, at)
    for entry in range(at + 2, at + 2 + 12 * count, 12):
        (tag,) = struct.unpack_from("<H", data, entry)
        if tag in (second or {}):
            number, value = (second or {})[tag]
            struct.pack_into("<H", data, entry, number)
            struct.pack_into("<H", data, entry + 8, value)
    path.write_bytes(bytes(data))
    return path


def test_a_scanned_page_larger_than_the_pixel_limit_is_read_at_it(tmp_path: Path) -> None:
    """Rendered at exactly the limit, PDFium's size rounded up used to pass it by a row and a
    column: every page over it (an A1 scan at 300 dpi and 60 megapixels) was refused."""
    path = tmp_path / "poster.pdf"
    page_image(HARBOUR).save(path, resolution=70)  # 1701 x 2405 points: 4.09 megapixels at 72 dpi
    (document,) = read_file(path, "poster.pdf", IngestSettings(ocr_max_megapixels=4)).documents
    assert _flat(document.page_content) == " ".join(HARBOUR)


def test_a_page_of_no_area_or_absurd_size_is_blank_and_the_others_are_read(
    tmp_path: Path,
) -> None:
    """A crop box outside the page made pypdfium2 raise ValueError, which stopped the whole
    ingestion; a page of 1 x 10^9 points was rendered as 245 million pixels (and refused as
    "an image" past the pixel limit): it is now as wide as Tesseract reads, and blank."""
    path = pdf_with_pages(
        tmp_path / "odd.pdf",
        [HARBOUR],
        [(612, 792, 5000, 5000, 6000, 6000), (1_000_000_000, 1), (1, 1_000_000_000)],
    )
    (document,) = read_file(path, "odd.pdf").documents
    assert document.metadata["page"] == 1 and _flat(document.page_content) == " ".join(HARBOUR)


def _count_ocr(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record each call of Tesseract (``image_to_data``), calling it still."""
    calls: list[object] = []
    real = pytesseract.image_to_data

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pytesseract, "image_to_data", counted)
    return calls


@pytest.mark.parametrize("suffix", [".tif", ".webp"])
def test_more_frames_than_the_page_limit_are_refused_before_any_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """A TIFF of 1000 frames of 4 x 4 pixels, a WebP of 201: 200 frames used to be read by
    Tesseract first (25 s, 39 s), up to ocr_file_seconds for larger frames."""
    path = tmp_path / f"frames{suffix}"
    if suffix == ".tif":
        tiff_with_frames(path, 1000)
    else:
        images = [Image.new("L", (8, 8), 255 - n % 2) for n in range(201)]
        images[0].save(path, save_all=True, append_images=images[1:], lossless=True)
    calls = _count_ocr(monkeypatch)
    with pytest.raises(LoadError) as caught:
        read_file(path, path.name)
    assert str(caught.value) == (
        "it has more than 200 pages to read by OCR (raise QA_BOT_INGEST__OCR_MAX_PAGES to "
        "ingest it)"
    )
    assert calls == []


@pytest.mark.parametrize(
    "second",
    [{259: (259, 58888)}, {257: (65000, 4)}],  # KeyError, TypeError
    ids=["unknown-compression", "no-height"],
)
def test_a_damaged_later_frame_is_refused_in_one_sentence(
    tmp_path: Path, second: dict[int, tuple[int, int]]
) -> None:
    """Pillow raised KeyError or TypeError on reaching such a frame, which stopped the whole
    ingestion."""
    path = tiff_with_frames(tmp_path / "frames.tif", 2, second)
    with pytest.raises(LoadError) as caught:
        read_file(path, "frames.tif")
    assert str(caught.value) == DAMAGED


@pytest.mark.parametrize(("width", "height"), [(59_000_000, 1), (1, 59_000_000)])
def test_a_side_longer_than_tesseract_reads_is_refused_from_the_header(
    tmp_path: Path, width: int, height: int
) -> None:
    """Under the pixel limit, Tesseract refused it as too large and its error was reported as
    a page past ocr_page_seconds (one pixel wide, Pillow needed 960 MB first)."""
    with pytest.raises(LoadError) as caught:
        read_file(png_claiming(tmp_path / "line.png", width, height), "line.png")
    assert str(caught.value) == (
        f"it is an image of {width} x {height} pixels, longer a side than the 32767 pixels "
        "Tesseract reads (crop or scale it down to ingest it)"
    )


def _zip() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return data.getvalue()


def _gif() -> bytes:
    data = io.BytesIO()
    Image.new("L", (50, 50), 255).save(data, "GIF")
    return data.getvalue()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            lambda: b"%PDF-1.7\n%%EOF\n",
            "it is a PDF named as an image (rename it to .pdf to ingest it)",
        ),
        (
            _zip,
            "it is a zip archive named as an image, perhaps a Word, PowerPoint or Excel file "
            "(rename it to .docx, .pptx or .xlsx to ingest it)",
        ),
        (
            _gif,
            "it is a picture in the GIF format, not PNG, JPEG, TIFF or WebP (save it as PNG to "
            "ingest it)",
        ),
        (  # Pillow reads EPS by running Ghostscript, where it is installed
            lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n",
            "it is a picture in the EPS format, not PNG, JPEG, TIFF or WebP (save it as PNG to "
            "ingest it)",
        ),
    ],
    ids=["pdf", "zip", "gif", "eps"],
)
def test_a_file_named_as_an_image_says_what_it_is(
    tmp_path: Path, content: Callable[[], bytes], reason: str
) -> None:
    path = tmp_path / "scan.png"
    path.write_bytes(content())
    with pytest.raises(LoadError) as caught:
        read_file(path, "scan.png")
    assert str(caught.value) == reason


def test_a_tesseract_error_is_not_reported_as_a_timeout(tmp_path: Path) -> None:
    """pytesseract's TesseractError is a RuntimeError, which was taken for its timeout."""
    path = make_screenshot(tmp_path / "error.png", SCREENSHOT)
    with pytest.raises(LoadError) as caught:
        read_file(path, "error.png", IngestSettings(ocr_language="xyz"))
    assert str(caught.value).startswith("Tesseract could not read it (")
    assert "Failed loading language 'xyz'" in str(caught.value)


def test_a_damaged_picture_or_page_never_stops_the_ingestion(
    tmp_path: Path, make_store: Callable[..., Store]
) -> None:
    """Each stopped the whole ingestion (an exception other than LoadError from the worker),
    the other documents not indexed."""
    folder = tmp_path / "docs"
    folder.mkdir()
    tiff_with_frames(folder / "frames.tif", 2, {257: (65000, 4)})
    pdf_with_pages(folder / "cropped.pdf", [HARBOUR], [(612, 792, 5000, 5000, 6000, 6000)])
    (folder / "ferry.txt").write_text(" ".join(FERRY))
    report = ingest(make_store(), folder)
    assert dict(report.failed) == {"docs/frames.tif": DAMAGED}
    assert sorted(report.added) == ["docs/cropped.pdf", "docs/ferry.txt"]
