"""Text from pictures of pages, read by Tesseract OCR (through pytesseract): image files a frame
a page (checked first by ``pictures.py``), and the pages of a PDF that have no text layer,
rendered by PDFium. Lines Tesseract reads with a low mean word confidence are left out, so noise
is never quoted; pixels, pages and seconds are bounded (``ingest.ocr_*``)."""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2
import pytesseract
from PIL import Image, ImageSequence

from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import LoadError, Part, Place, reading_limits
from qa_bot.ingest.pictures import MAX_SIDE, check_pixels, frames_past, opened

POINTS = 72
"""PDF units per inch."""
OCR_FORMATS = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
"""The formats that may be read by OCR, whose reading may take ``ocr_file_seconds`` more."""


def read_seconds(suffix: str, limits: IngestSettings) -> float:
    """Longest a file of this format may take to read: ``parse_timeout_seconds``, and
    ``ocr_file_seconds`` more where it may be read by OCR."""
    ocr = limits.ocr and suffix in OCR_FORMATS
    return limits.parse_timeout_seconds + (limits.ocr_file_seconds if ocr else 0.0)


def tesseract_version() -> str | None:
    """Tesseract's version, or None when it is not installed."""
    if shutil.which("tesseract") is None:
        return None
    try:
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError):
        return None


def tesseract_languages() -> list[str]:
    """The language data Tesseract has here (none when it is not installed)."""
    try:
        return list(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError):
        return []


def unavailable(limits: IngestSettings) -> str | None:
    """Why OCR cannot run here (a few words), or None when it can."""
    if not limits.ocr:
        return "it needs OCR, which is off (QA_BOT_INGEST__OCR=true turns it on)"
    if tesseract_version() is None:
        return "it needs OCR, and Tesseract is not installed (apt-get install tesseract-ocr)"
    return None


@dataclass
class Reader:
    """OCR of one file within its limits: pages read so far and seconds spent."""

    limits: IngestSettings
    pages: int = 0
    began: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        why = unavailable(self.limits)
        if why:
            raise LoadError(why)

    def read(self, image: Image.Image) -> str:
        """The text of one page's image; LoadError past a page, pixel or time limit."""
        self.pages += 1
        if self.pages > self.limits.ocr_max_pages:
            raise LoadError(_too_many_pages(self.limits))
        check_pixels(image.size, self.limits)
        left = self.limits.ocr_file_seconds - (time.monotonic() - self.began)
        if left <= 0:
            raise LoadError(self._overtime(left))
        try:
            with _one_thread():
                data = pytesseract.image_to_data(
                    image.convert("L"),
                    lang=self.limits.ocr_language,
                    config="--psm 3",
                    output_type=pytesseract.Output.DICT,
                    timeout=min(self.limits.ocr_page_seconds, left),
                )
        except pytesseract.TesseractError as err:  # a RuntimeError too: caught before the timeout
            raise LoadError(f"Tesseract could not read it ({err.message.strip()[:200]})") from err
        except RuntimeError as err:  # pytesseract's timeout
            raise LoadError(self._overtime(left)) from err
        return confident_text(data, self.limits.ocr_min_confidence)

    def _overtime(self, left: float) -> str:
        """Why OCR stopped: a page, or the whole file, took too long."""
        if left <= self.limits.ocr_page_seconds:
            return (
                f"its OCR took more than {self.limits.ocr_file_seconds:g} s (raise "
                "QA_BOT_INGEST__OCR_FILE_SECONDS to ingest it)"
            )
        return (
            f"OCR of its page {self.pages} took more than {self.limits.ocr_page_seconds:g} s "
            "(raise QA_BOT_INGEST__OCR_PAGE_SECONDS to ingest it)"
        )


@contextmanager
def _one_thread() -> Iterator[None]:
    """Tesseract started within runs one OpenMP thread: beside the embedding model and the
    server, more threads spin against each other (a page took 15 s with them, 5 s without)."""
    before = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["OMP_THREAD_LIMIT"]
        else:
            os.environ["OMP_THREAD_LIMIT"] = before


def _too_many_pages(limits: IngestSettings) -> str:
    return (
        f"it has more than {limits.ocr_max_pages} pages to read by OCR (raise "
        "QA_BOT_INGEST__OCR_MAX_PAGES to ingest it)"
    )


def confident_text(data: dict[str, list[str | int | float]], min_confidence: float) -> str:
    """Tesseract's words (``image_to_data``) as paragraphs of the lines whose mean word
    confidence reaches ``min_confidence``; a word broken by a hyphen at a line end is joined."""
    lines: dict[tuple[int, int, int], list[tuple[str, float]]] = {}
    for i, word in enumerate(data["text"]):
        confidence = float(data["conf"][i])
        if str(word).strip() and confidence >= 0:
            key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
            lines.setdefault(key, []).append((str(word).strip(), confidence))
    paragraphs: dict[tuple[int, int], str] = {}
    for (block, par, _), words in lines.items():
        if sum(c for _, c in words) / len(words) < min_confidence:
            continue
        line = " ".join(w for w, _ in words)
        before = paragraphs.get((block, par), "")
        joined = before[:-1] + line if before.endswith("-") else f"{before} {line}".strip()
        paragraphs[(block, par)] = joined
    return "\n\n".join(paragraphs.values())


def load_image(path: Path) -> list[Part]:
    """An image file's text by OCR, a frame a page (a TIFF or WebP may hold several)."""
    reader = Reader(reading_limits())
    with opened(path, reader.limits) as image:
        if frames_past(image, reader.limits.ocr_max_pages):
            raise LoadError(_too_many_pages(reader.limits))
        return [
            (reader.read(frame), "", Place("page", n, ocr=True))
            for n, frame in enumerate(ImageSequence.Iterator(image), 1)
        ]


def scanned_pages(path: Path, numbers: list[int]) -> Iterator[tuple[int, str]]:
    """The text of the PDF's pages ``numbers`` (from 1), each rendered at ``ocr_dpi`` (less
    where the page is so large it would pass the pixel limit) and read by OCR."""
    reader = Reader(reading_limits())
    if len(numbers) > reader.limits.ocr_max_pages:
        raise LoadError(
            f"it has {len(numbers)} scanned pages, over the {reader.limits.ocr_max_pages}-page "
            "OCR limit (raise QA_BOT_INGEST__OCR_MAX_PAGES to ingest it)"
        )
    try:
        document = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as err:
        raise LoadError(f"its scanned pages cannot be rendered ({err})") from err
    try:
        for number in numbers:
            image = _render(document, number, reader.limits)
            yield number, "" if image is None else reader.read(image)
    finally:
        document.close()


def _render(
    document: pypdfium2.PdfDocument, number: int, limits: IngestSettings
) -> Image.Image | None:
    """Page ``number`` as a greyscale image at ``ocr_dpi``, or less where the page is so large
    (or so long a side) it would pass the pixel limit or Tesseract's; None for a page of no
    area (its crop box outside its media box), which shows nothing."""
    try:
        page = document[number - 1]
        width, height = page.get_size()
        if not (width > 0 and height > 0):
            return None
        most = limits.ocr_max_megapixels * 1e6
        fit = min(
            limits.ocr_dpi / POINTS,
            MAX_SIDE / width,
            MAX_SIDE / height,
            (most / width / height) ** 0.5,
        )
        # PDFium's bitmap is the page's size times the scale rounded up: each side is rounded
        # down first, so a page as large as the limit is rendered within it, not a pixel past
        sides = max(1, math.floor(width * fit)), max(1, math.floor(height * fit))
        scale = min(sides[0] / width, sides[1] / height) * (1 - 1e-9)
        image: Image.Image = page.render(scale=scale, grayscale=True).to_pil()
    except MemoryError:
        raise
    except Exception as err:  # PdfiumError, and pypdfium2's ValueError for a page it cannot size
        raise LoadError(f"its page {number} cannot be rendered ({err})") from err
    return image
