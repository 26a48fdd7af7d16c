"""Image files checked before their pixels are decoded: the formats OCR reads, the pixel
limits, and the structures of hostile files (TIFF tag tables, frame counts, other files renamed)
that would cost Pillow gigabytes or minutes to find out."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import LoadError

DAMAGED = (
    "it is not a readable image: damaged or truncated (save it again from its source to ingest it)"
)
NOT_A_PICTURE = (
    "it is not a readable image: not a picture, or damaged (save it again as PNG to ingest it)"
)
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


@contextmanager
def opened(path: Path, limits: IngestSettings) -> Iterator[Image.Image]:
    """The image file opened by Pillow once its structure is within ``limits``; a file that is
    no picture, a damaged one or a hostile one (there, or as its pixels are decoded within the
    block) raises LoadError in one sentence."""
    try:
        check_tiff(path, limits.ocr_max_pages + 1)
        with Image.open(path) as image:
            if image.format not in PICTURES:
                raise LoadError(
                    f"it is a picture in the {image.format} format, not PNG, JPEG, TIFF or WebP "
                    "(save it as PNG to ingest it)"
                )
            check_pixels(image.size, limits)
            yield image
    except (LoadError, MemoryError):
        raise
    except Image.DecompressionBombError as err:
        most = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise LoadError(
            f"it is an image that claims more than {most:.0f} million pixels, like a "
            "decompression bomb"
        ) from err
    except UnidentifiedImageError as err:
        raise LoadError(not_a_picture(path)) from err
    except Exception as err:  # Pillow's errors for broken files: OSError, KeyError, TypeError...
        raise LoadError(DAMAGED) from err


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


def check_tiff(path: Path, frames: int) -> None:
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


def frames_past(image: Image.Image, most: int) -> bool:
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


def not_a_picture(path: Path) -> str:
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
    return NOT_A_PICTURE
