"""Text from pictures of pages, read by Tesseract OCR (through pytesseract): image files a frame
a page, and the pages of a PDF that have no text layer, rendered by PDFium. Lines Tesseract reads
with a low mean word confidence are left out, so noise is never quoted; pixels, pages and
seconds are bounded (``ingest.ocr_*``)."""

from __future__ import annotations

import math
import os
import shutil
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2
import pytesseract
from PIL import Image, ImageSequence, UnidentifiedImageError

from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import LoadError, Part, Place, reading_limits

POINTS = 72
"""PDF units per inch."""
OCR_FORMATS = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
"""The formats that may be read by OCR, whose reading may take ``ocr_file_seconds`` more."""
PICTURES = frozenset({"PNG", "JPEG", "MPO", "TIFF", "WEBP"})
"""What Pillow may decode an image file as (MPO: a camera's JPEG); it knows dozens more, some read
by other programs (EPS by Ghostscript), none of them named by the image suffixes."""
MAX_SIDE = 32767
"""The widest and tallest image Tesseract reads ("Image too large" past it)."""
TIFF_NUMBERS = 2_000_000
"""Most numbers the tags of one TIFF frame may hold in all: Pillow unpacks every one as it opens
the frame, about 160 bytes each (8 million in a 16 MB file kept a reader of 1 GB spinning in
malloc for minutes, 20 million until it was stopped at 960 s); a frame within the pixel limits
has at most 940,000 strips or tiles (16 x 16 pixels, 4 planes), each an offset and a byte
count."""
NUMBER_TYPES = frozenset({3, 4, 5, 8, 9, 10, 11, 12, 13, 16, 17, 18})
"""The TIFF tag types that hold numbers (the others hold bytes or text, read as one string)."""


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


def check_pixels(size: tuple[int, int], limits: IngestSettings) -> None:
    """Refuse an image larger than ``ocr_max_megapixels``, or longer a side than Tesseract reads
    (before its pixels are decoded: one pixel wide, an image costs Pillow a row pointer a pixel)."""
    width, height = size
    if width * height > limits.ocr_max_megapixels * 1e6:
        raise LoadError(
            f"it is an image of {width} x {height} pixels, over the "
            f"{limits.ocr_max_megapixels:g} megapixel limit (raise "
            "QA_BOT_INGEST__OCR_MAX_MEGAPIXELS to ingest it)"
        )
    if max(width, height) > MAX_SIDE:
        raise LoadError(
            f"it is an image of {width} x {height} pixels, longer a side than the {MAX_SIDE} "
            "pixels Tesseract reads (crop or scale it down to ingest it)"
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
    try:
        _check_tiff(path, reader.limits.ocr_max_pages + 1)
        with Image.open(path) as image:
            if image.format not in PICTURES:
                raise LoadError(
                    f"it is a picture in the {image.format} format, not PNG, JPEG, TIFF or WebP "
                    "(save it as PNG to ingest it)"
                )
            check_pixels(image.size, reader.limits)
            if _frames_past(image, reader.limits.ocr_max_pages):
                raise LoadError(_too_many_pages(reader.limits))
            return [
                (reader.read(frame), "", Place("page", n, ocr=True))
                for n, frame in enumerate(ImageSequence.Iterator(image), 1)
            ]
    except (LoadError, MemoryError):
        raise
    except Image.DecompressionBombError as err:
        most = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise LoadError(
            f"it is an image that claims more than {most:.0f} million pixels, like a "
            "decompression bomb"
        ) from err
    except UnidentifiedImageError as err:
        raise LoadError(_not_a_picture(path)) from err
    except Exception as err:  # Pillow's errors for broken files: OSError, KeyError, TypeError...
        raise LoadError("it is not a readable image: damaged or truncated") from err


def _check_tiff(path: Path, frames: int) -> None:
    """Refuse a TIFF (BigTIFF too) one of whose first ``frames`` frames has tags of more than
    ``TIFF_NUMBERS`` numbers, from the counts in its directories (before Pillow reads them)."""
    with path.open("rb") as file:
        head = file.read(16)
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None or len(head) < 16:
            return
        (version,) = struct.unpack_from(order + "H", head, 2)
        if version not in (42, 43):  # TIFF, BigTIFF
            return
        big = version == 43
        offset, count = ("Q", "Q") if big else ("I", "H")
        entry = struct.Struct(order + "HH" + offset + offset)  # tag, type, count, value
        (at,) = struct.unpack_from(order + offset, head, 8 if big else 4)
        for number in range(1, frames + 1):
            file.seek(at)
            raw = file.read(struct.calcsize(count))
            if not at or len(raw) < struct.calcsize(count):
                return
            (entries,) = struct.unpack(order + count, raw)
            table = file.read(min(entries, TIFF_NUMBERS + 1) * entry.size)
            table = table[: len(table) - len(table) % entry.size]
            numbers = entries + sum(
                n for _, kind, n, _ in entry.iter_unpack(table) if kind in NUMBER_TYPES
            )
            if numbers > TIFF_NUMBERS:
                raise LoadError(
                    f"it is a TIFF whose frame {number} lists {numbers} numbers in its tags, far "
                    "more than a picture within the limits needs, like a memory bomb (save it "
                    "again as PNG to ingest it)"
                )
            raw = file.read(struct.calcsize(offset))
            if len(raw) < struct.calcsize(offset):
                return
            (at,) = struct.unpack(order + offset, raw)


def _frames_past(image: Image.Image, most: int) -> bool:
    """Whether the image has more than ``most`` frames, known before any is read: a TIFF's are
    found by seeking just past ``most`` (``n_frames`` walks them all, in time quadratic in
    their number), the others' counts are in their headers."""
    if image.format != "TIFF":
        return int(getattr(image, "n_frames", 1)) > most
    try:
        image.seek(most)
    except EOFError:
        return False
    finally:
        image.seek(0)
    return True


def _not_a_picture(path: Path) -> str:
    """Why a file named as an image is none: a PDF or a zip archive (an Office file) renamed,
    else not a picture or damaged."""
    with path.open("rb") as file:
        start = file.read(5)
    if start.startswith(b"%PDF-"):
        return "it is a PDF named as an image (rename it to .pdf to ingest it)"
    if start.startswith(b"PK\x03\x04"):
        return (
            "it is a zip archive named as an image, perhaps a Word, PowerPoint or Excel file "
            "(rename it to .docx, .pptx or .xlsx to ingest it)"
        )
    return "it is not a readable image: not a picture, or damaged"


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
